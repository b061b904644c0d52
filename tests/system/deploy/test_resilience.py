"""Returns in flight on the production topology while one worker and one API process are killed and the
Temporal server restarts: each return still completes, with exactly one label and one refund in the
vendors' own ledgers (the sandboxes' admin views)."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Callable

import httpx
import pytest
from temporalio.api.enums.v1 import PendingActivityState

from deploy import Topology
from tests.system.deploy.drive import drive_return
from workflows.contract import workflow_id_for
from workflows.vocabulary import Stage

pytestmark = pytest.mark.production

RETURNS = 6
PREFIX = "PROD-FAIL-"
# Vendors act at once but answer late, so label purchases and refunds are still in flight (the money or
# the label already exists, the workflow not yet told) when the processes die.
HELD_ANSWER_SECONDS = 5


def _ledger(topology: Topology, vendor: str, path: str) -> list[dict]:
    return httpx.get(f"{topology.sandbox_url(vendor)}/_sandbox/{path}", timeout=10).raise_for_status().json()


def _labels(topology: Topology) -> list[dict]:
    return [t for t in _ledger(topology, "shippo", "transactions") if t["metadata"].startswith(f"return:{PREFIX}")]


def _refunds(topology: Topology) -> list[dict]:
    refunds = _ledger(topology, "stripe", "refunds")
    return [r for r in refunds if r["metadata"].get("return_id", "").startswith(PREFIX)]


def _hold_answers(topology: Topology, vendor: str, path: str) -> None:
    fault = {"method": "POST", "path": path, "after": True, "delay_seconds": HELD_ANSWER_SECONDS, "times": RETURNS}
    httpx.post(f"{topology.sandbox_url(vendor)}/_sandbox/faults", json=fault, timeout=10).raise_for_status()


def _clear_faults(topology: Topology) -> None:
    for vendor in ("shippo", "stripe"):
        httpx.delete(f"{topology.sandbox_url(vendor)}/_sandbox/faults", timeout=10).raise_for_status()


async def _until(probe: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not probe():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never saw {what}")
        await asyncio.sleep(0.1)


async def _started_activities(topology: Topology, return_ids: list[str]) -> dict[int, list[str]]:
    """Worker pid -> the returns with a label purchase running on it right now (its answer held: it
    can't finish before the kill, as a notification or an event record could)."""
    client = await topology.temporal_client()
    running: dict[int, list[str]] = defaultdict(list)
    for return_id in return_ids:
        described = await client.get_workflow_handle(workflow_id_for(return_id)).describe()
        for pending in described.raw_description.pending_activities:
            held = pending.activity_type.name == "buy_return_label"
            if held and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
                pid = int(pending.last_worker_identity.split("@", 1)[0])  # the SDK's identity: "<pid>@<host>"
                running[pid].append(return_id)
    return running


async def _a_worker_with_running_activities(
    topology: Topology, return_ids: list[str], workers: dict[int | None, int], timeout: float = 10
) -> tuple[int, list[str]]:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        running = await _started_activities(topology, return_ids)
        if found := [(pid, ids) for pid, ids in running.items() if pid in workers]:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError("no worker was running an activity of these returns")


async def _retried_activities(topology: Topology, return_id: str) -> list[str]:
    client = await topology.temporal_client()
    history = await client.get_workflow_handle(workflow_id_for(return_id)).fetch_history()
    scheduled = {
        event.event_id: event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    }
    return [
        scheduled[event.activity_task_started_event_attributes.scheduled_event_id]
        for event in history.events
        if event.HasField("activity_task_started_event_attributes")
        and event.activity_task_started_event_attributes.attempt > 1
    ]


async def test_returns_complete_once_each_through_a_killed_worker_a_killed_api_and_a_server_restart(
    topology: Topology,
) -> None:
    return_ids = [f"{PREFIX}{n}" for n in range(RETURNS)]
    _hold_answers(topology, "shippo", "/transactions")
    _hold_answers(topology, "stripe", "/v1/refunds")

    drivers = [asyncio.create_task(drive_return(topology.settings, topology.api_url, rid)) for rid in return_ids]
    try:
        await _until(lambda: len(_labels(topology)) >= 2, "labels being bought")
        # The worker to kill is one with a label purchase running on it: bought, its answer held.
        workers = {topology.pid(f"worker-{index}"): index for index in range(topology.config.workers)}
        victim_pid, interrupted = await _a_worker_with_running_activities(topology, return_ids, workers)
        await topology.kill_worker(workers[victim_pid])  # SIGKILL
        await topology.kill_api(0)  # SIGKILL, with the drivers' requests going through it

        await _until(lambda: len(_refunds(topology)) >= 1, "refunds being made", timeout=180)
        await topology.restart_temporal()  # with refunds in flight on the surviving worker
        await topology.start_worker(workers[victim_pid])
        await topology.start_api(0)

        finals = await asyncio.gather(*drivers)
    finally:
        for driver in drivers:
            driver.cancel()
        _clear_faults(topology)
        await topology.up()  # what this test killed, back: the package's other tests share the topology

    assert [status.stage for status in finals] == [Stage.completed] * RETURNS
    bought = Counter(t["metadata"].removeprefix("return:") for t in _labels(topology))
    refunded = Counter(r["metadata"]["return_id"] for r in _refunds(topology))
    assert bought == Counter(return_ids), "one label per return"
    assert refunded == Counter(return_ids), "one refund per return"
    for status in finals:
        assert status.refund is not None and status.label is not None
        (refund,) = [r for r in _refunds(topology) if r["metadata"]["return_id"] == status.return_id]
        assert (refund["id"], refund["amount"]) == (status.refund.refund_id, status.refund.amount)
    for return_id in interrupted:  # the killed worker's attempts were lost and run again elsewhere
        assert await _retried_activities(topology, return_id), return_id
    assert topology.status().all_running
