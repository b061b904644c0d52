"""Liveness and readiness against the real dev server: an API process answers /v1/livez whatever happens
around it, and /v1/readyz is 200 only when Temporal answers and a worker polls its task queue for both
workflow and activity tasks; the worker's own /livez and /readyz likewise."""

from __future__ import annotations

import httpx
import pytest

from devstack.ports import free_port
from tests.system.ops.conftest import OpsStack, wait_for

pytestmark = pytest.mark.devserver


async def _api(ops: OpsStack, name: str, **environment: str) -> str:
    port = free_port()
    ops.stack.spawn_api(name, API_PORT=str(port), **environment)
    url = f"http://127.0.0.1:{port}"

    async def listening() -> bool:
        try:
            return (await httpx.AsyncClient().get(f"{url}/v1/livez", timeout=2)).status_code == 200
        except httpx.TransportError:
            return False

    await wait_for(listening, f"{name} listening")
    return url


async def _readyz(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.get(url)


async def test_readiness_fails_while_temporal_is_down_and_liveness_holds(ops: OpsStack) -> None:
    url = await _api(ops, "api-no-temporal", TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}")  # nothing listens
    answer = await _readyz(f"{url}/v1/readyz")
    assert answer.status_code == 503
    assert answer.json() == {
        "error": "not_ready",
        "message": "not ready",
        "fields": [{"field": "temporal", "message": "unreachable"}],
    }
    assert (await _readyz(f"{url}/v1/livez")).status_code == 200
    assert (await _readyz(f"{url}/v1/health")).status_code == 200  # the old probe: liveness now


async def test_readiness_waits_for_a_worker_on_the_task_queue(ops: OpsStack) -> None:
    queue = "readiness-queue"  # nobody polls it yet
    url = await _api(ops, "api-ready", TASK_QUEUE=queue)
    answer = await _readyz(f"{url}/v1/readyz")
    assert answer.status_code == 503
    assert answer.json()["fields"] == [
        {"field": "workflow_pollers", "message": "no worker polling"},
        {"field": "activity_pollers", "message": "no worker polling"},
    ]

    health_port = free_port()
    ops.stack.start_worker(TASK_QUEUE=queue, WORKER_HEALTH_PORT=str(health_port))

    async def ready() -> httpx.Response | None:
        answer = await _readyz(f"{url}/v1/readyz")
        return answer if answer.status_code == 200 else None

    answer = await wait_for(ready, "the API ready once the worker polls")
    assert answer.json() == {
        "status": "ready",
        "checks": {"temporal": "ok", "workflow_pollers": "ok", "activity_pollers": "ok"},
    }
    worker = f"http://127.0.0.1:{health_port}"
    assert (await _readyz(f"{worker}/livez")).json() == {"status": "ok"}
    assert (await _readyz(f"{worker}/readyz")).json() == {
        "status": "ready",
        "checks": {"worker": "ok", "temporal": "ok"},
    }
