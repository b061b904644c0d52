"""The production topology on one machine, for `make prod-up` and the production tests.

Not part of the installed app (pyproject's packages leave it out): it installs the app's wheel
and runs it against a real Temporal server on PostgreSQL. See deploy/topology.py.
"""

from deploy.config import Ports, TopologyConfig
from deploy.tools import Tools, ToolUnavailable
from deploy.topology import Status, Topology

__all__ = ["Ports", "Status", "ToolUnavailable", "Tools", "Topology", "TopologyConfig"]
