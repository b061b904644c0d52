"""One local stack per test module: Temporal dev server, sandboxes, worker and API as processes."""

from __future__ import annotations

from tests.system.local_stack import doors, returns, stack

__all__ = ["doors", "returns", "stack"]  # the fixtures
