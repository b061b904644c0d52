"""The production tier's fixtures: the topology of deploy/ on free ports, in a state directory of its own.

Its tools (Temporal server, SQL tool, Web UI server, PostgreSQL) are installed on first use by
scripts/setup-production.sh; where one can't be had the tier skips, saying which and why.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from deploy import Ports, Tools, ToolUnavailable, Topology, TopologyConfig


@pytest.fixture(scope="session")
def production_tools() -> Tools:
    try:
        return Tools.locate()
    except ToolUnavailable as error:
        pytest.skip(f"the production topology's tools can't be had here: {error}")


@contextmanager
def state_directory(name: str) -> Iterator[Path]:
    """Not pytest's tmp_path: that is private to its owner (0700), and PostgreSQL runs as its own account."""
    path = Path(tempfile.mkdtemp(prefix=f"returns-{name}-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="package")
async def topology(production_tools: Tools) -> AsyncIterator[Topology]:
    """One topology for the tier's plain-TCP tests (the mTLS test brings up its own)."""
    with state_directory("prod") as state_dir:
        config = TopologyConfig(state_dir=state_dir, ports=Ports.free())
        async with Topology(config, production_tools) as topology:
            yield topology


@pytest.fixture(scope="module")
async def secured(production_tools: Tools) -> AsyncIterator[Topology]:
    """The same topology with the Temporal frontend on mTLS (its own, for the module that needs it)."""
    with state_directory("prod-mtls") as state_dir:
        config = TopologyConfig(state_dir=state_dir, ports=Ports.free(), mtls=True)
        async with Topology(config, production_tools) as topology:
            yield topology
