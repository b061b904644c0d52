"""The fixtures of the system tests that run one local stack per module (Temporal dev server,
sandboxes, worker and API as processes): the stack, its doors over HTTP, and a ReturnsClient."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from devstack.ports import free_port
from devstack.stack import LocalStack, Ports
from starter.client import ReturnsClient
from tests.system.api.doors import Doors, eventually


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with LocalStack(ports=Ports.free(), ui=False, log_dir=tmp_path_factory.mktemp("stack")) as stack:
        yield stack


@pytest.fixture(scope="module")
async def doors(stack: LocalStack) -> AsyncIterator[Doors]:
    async with Doors.open(stack) as doors:
        yield doors


@pytest.fixture(scope="module")
async def returns(stack: LocalStack) -> AsyncIterator[ReturnsClient]:
    """Temporal, straight: to check what the doors did (or did not) start and signal."""
    client = await stack.client()
    yield client
    await client.aclose()


async def another_api(stack: LocalStack, name: str, **environment: str) -> str:
    """An API process of the stack's with settings of its own, once it answers; its base URL."""
    port = free_port()
    stack.spawn_api(name, API_PORT=str(port), **environment)
    url = f"http://127.0.0.1:{port}"

    async def answers() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(f"{url}/v1/livez")).status_code == 200
        except httpx.TransportError:
            return False

    await eventually(answers, bool, 30)
    return url
