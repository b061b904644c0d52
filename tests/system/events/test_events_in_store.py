"""A return's events reach the event store in sequence, each once, even when the worker is
killed (SIGKILL) between a change and its append; and a return whose run Temporal deleted is
still read through the API, from the store. Real dev server, worker and API processes, SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.service import RPCError, RPCStatusCode

from devstack.checkout import DEMO_GRADES, charge_shopper, demo_order, demo_request, seed_order
from devstack.demo import role_headers, run_demo
from devstack.polling import wait_for_stage
from devstack.stack import LocalStack, Ports
from starter.client import ReturnsClient
from store.events import ReturnEvent
from store.store import EventStore
from tests.system.events.conftest import until
from workflows.contract import workflow_id_for
from workflows.models import CarrierScan, InspectionReport, LineInspection
from workflows.vocabulary import Stage, TrackingStatus

pytestmark = pytest.mark.devserver

DEMO_EVENTS = [
    "requested",
    "approved",
    "label_issued",
    "in_transit",
    "delivered",
    "received",
    "inspected",
    "disposition_done",  # L1 restocked
    "disposition_done",  # L2 recycled
    "refunded",
    "completed",
    "closed",  # the run's end (the settle window and the disposition work deadline, short here)
]
# A killed worker's append is retried once its attempt times out (steps.EVENTS_TIMEOUT).
RECOVERY = timedelta(seconds=60)


SHORT_DAY = 0.0001  # 8.6 s: a demo return's run ends within the test, not weeks later


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    log_dir: Path = tmp_path_factory.mktemp("events")
    policy = json.loads((Path(__file__).parents[3] / "starter" / "return_policy.json").read_text())
    policy["deadlines"] |= {"refund_settle_days": SHORT_DAY, "disposition_work_days": SHORT_DAY}
    (log_dir / "policy.json").write_text(json.dumps(policy))
    overrides = {"return_policy_file": str(log_dir / "policy.json")}
    async with LocalStack(ports=Ports.free(), ui=False, log_dir=log_dir, overrides=overrides) as stack:
        yield stack


@pytest.fixture(scope="module")
def store(stack: LocalStack) -> Iterator[EventStore]:
    opened = EventStore.open(stack.settings.event_store_url.get_secret_value())
    yield opened
    opened.close()


def _types(events: list[ReturnEvent]) -> list[str]:
    return [event.type.value for event in events]


def _assert_each_once_in_sequence(events: list[ReturnEvent], return_id: str) -> None:
    assert [event.sequence for event in events] == list(range(1, len(events) + 1))
    assert [event.id for event in events] == [f"evt_{return_id}_{n}" for n in range(1, len(events) + 1)]


@contextmanager
def _store_locked(path: Path) -> Iterator[None]:
    """Holds the store's write lock, as a stalled database would: appends wait behind it."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


async def test_the_demo_returns_events_land_in_the_store_in_sequence_each_once(
    stack: LocalStack, store: EventStore
) -> None:
    final = await run_demo(stack.settings, stack.api_url, return_id="EVT-DEMO")
    await until(lambda: "closed" in _types(store.events_of("EVT-DEMO")), "the run's end recorded", 60)
    events = store.events_of("EVT-DEMO")
    assert _types(events) == DEMO_EVENTS
    _assert_each_once_in_sequence(events, "EVT-DEMO")
    assert events[-1].data["resolution"]["refund"]["amount"] == final.refund.amount == 2 * 2500 - 599
    record = store.record("EVT-DEMO")  # the read model, from the same events
    assert record["event_count"] == len(DEMO_EVENTS) and record["stage"] == "completed"
    assert record["refunded"] == 2 * 2500 - 599


async def test_a_return_whose_run_temporal_deleted_is_read_back_through_the_api(stack: LocalStack) -> None:
    await run_demo(stack.settings, stack.api_url, return_id="EVT-GONE")
    client: ReturnsClient = await stack.client()
    await client.result("EVT-GONE")  # the run has ended
    operator = role_headers(stack.settings, "operator")
    async with httpx.AsyncClient(base_url=stack.api_url, headers=operator, timeout=30) as api:
        before = (await api.get("/v1/returns/EVT-GONE")).json()
        timeline_before = (await api.get("/v1/returns/EVT-GONE/timeline")).json()

        delete = await asyncio.create_subprocess_exec(
            os.environ["TEMPORAL_CLI_PATH"],
            *("workflow", "delete", "--workflow-id", workflow_id_for("EVT-GONE")),
            *("--address", stack.settings.temporal_address, "--namespace", stack.settings.temporal_namespace),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await delete.communicate()
        assert delete.returncode == 0, output.decode()

        async def gone() -> bool:
            try:
                await client.temporal.get_workflow_handle(workflow_id_for("EVT-GONE")).describe()
            except RPCError as error:
                return error.status == RPCStatusCode.NOT_FOUND
            return False

        for _ in range(240):  # the server deletes in the background: seconds, more on a busy machine
            if await gone():
                break
            await asyncio.sleep(0.25)
        else:
            raise AssertionError("Temporal never deleted the run")

        after = await api.get("/v1/returns/EVT-GONE")
        timeline_after = await api.get("/v1/returns/EVT-GONE/timeline")
        unknown = await api.get("/v1/returns/EVT-NEVER")
    assert after.status_code == 200 and after.json() == before
    assert before["stage"] == "completed" and before["resolution"]["refund"]["amount"] == 2 * 2500 - 599
    assert timeline_after.status_code == 200 and timeline_after.json() == timeline_before
    assert unknown.status_code == 404  # neither Temporal nor the store knows it


async def test_a_worker_killed_between_a_change_and_its_append_loses_and_duplicates_no_event(
    stack: LocalStack, store: EventStore
) -> None:
    client: ReturnsClient = await stack.client()
    request = demo_request("EVT-KILL", await charge_shopper(client.settings))
    await seed_order(
        client.settings, demo_order(request.order_id, request.customer_id, paid_with=request.payment_intent_id)
    )
    await client.start(request)
    status = await wait_for_stage(client, "EVT-KILL", Stage.label_issued)
    await until(lambda: len(store.events_of("EVT-KILL")) == 3, "requested, approved, label_issued stored")

    # 1. The change is made (delivered), its append waits on the store: the worker dies then.
    handle = client.temporal.get_workflow_handle(workflow_id_for("EVT-KILL"))
    with _store_locked(stack.store_file):
        scan = CarrierScan(event_id="kill-1", status=TrackingStatus.delivered, occurred_at=status.timeline[-1].at)
        await client.record_carrier_scan("EVT-KILL", scan)
        await wait_for_stage(client, "EVT-KILL", Stage.delivered)

        async def appending() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            return any(activity.activity_type.name == "record_event" for activity in pending)

        for _ in range(200):
            if await appending():
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the delivered event's append never started")
        stack.kill_workers(signal.SIGKILL)
    assert _types(store.events_of("EVT-KILL")) == ["requested", "approved", "label_issued"]  # not stored yet
    stack.start_worker()
    await until(lambda: "delivered" in _types(store.events_of("EVT-KILL")), "delivered", RECOVERY.total_seconds())

    # 2. The append is committed, and the worker dies before it can say so.
    inspection = InspectionReport(
        inspector="dock-1", lines=[LineInspection(line_id=k, grade=v) for k, v in DEMO_GRADES.items()]
    )
    await client.record_inspection("EVT-KILL", inspection)
    await until(lambda: "inspected" in _types(store.events_of("EVT-KILL")), "inspected")
    stack.kill_workers(signal.SIGKILL)
    stack.start_worker()

    final = await wait_for_stage(client, "EVT-KILL", Stage.completed, timeout=RECOVERY.total_seconds())
    await until(
        lambda: "completed" in _types(store.events_of("EVT-KILL")), "completed stored", RECOVERY.total_seconds()
    )
    events = store.events_of("EVT-KILL")
    assert _types(events)[:9] == [
        "requested",
        "approved",
        "label_issued",
        "delivered",
        "inspected",
        "disposition_done",
        "disposition_done",
        "refunded",
        "completed",
    ]
    _assert_each_once_in_sequence(events, "EVT-KILL")
    assert store.record("EVT-KILL")["event_count"] == len(events)
    assert events[-1].data["resolution"]["refund"]["amount"] == final.refund.amount
