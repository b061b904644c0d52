"""A return's progress is a function of the set of events it has seen, never of their order.

Carriers and Stripe redeliver and reorder their webhooks, and while no worker runs a return's
events pile up and reach it in one batch. On the time-skipping server with the real activities:

- the lost-return case: the carrier's scans arrive backwards, each twice, while no worker runs;
- a property (Hypothesis): a return's events (scans with redeliveries, the warehouse's receipts
  and inspection, then Stripe's refund reports) applied in a random order one at a time with the
  worker running, the same order all at once before the worker starts, and in the order they
  happened, end in the same status: stage, money, lines and timeline entries (modulo order).

The warehouse's own messages keep their order (its handheld waits for each answer: receipts,
then the inspection), and a receipt can be redelivered at any time; everything else is shuffled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from devstack.polling import wait_for_stage
from integrations.settings import Settings
from starter.client import ReturnsClient
from starter.errors import ReturnUnavailableError
from tests.conftest import Sandboxes
from tests.integration.workflows.harness import OPERATOR, Returns
from workers.main import build_worker
from workflows.models import (
    CarrierScan,
    InspectionReport,
    LineInspection,
    ParcelReceipt,
    PaymentUpdate,
    ReceivedLine,
    ReturnStatus,
)
from workflows.policy import RefundFailureFallback, ReturnPolicy
from workflows.return_workflow import ReturnWorkflow
from workflows.vocabulary import Grade, RefundState, Stage, TrackingStatus

pytestmark = pytest.mark.timeskipping

# The demo order: L1 two shirts at 25.00, L2 one mug at 12.00. A failed refund waits for an
# operator, so the return stays open to hear every report however they are ordered.
POLICY = ReturnPolicy(
    version="event-order-1",
    return_shipping_fee=599,
    restocking_fee_bp_by_grade={Grade.b: 1_000, Grade.c: 2_000},
    refund_failure_fallback=RefundFailureFallback.operator,
)
ORDERED = {"L1": 2, "L2": 1}
EXAMPLES = int(os.environ.get("EVENT_ORDER_EXAMPLES", "6"))


@pytest.fixture(scope="module")
def queue(sandboxes: Sandboxes) -> Settings:
    """A task queue of this module's own, whose worker the tests start and stop. Its workers keep
    no returns cached (each event replays the history): the test server never moves a stopped
    worker's sticky queue to the next one."""
    return sandboxes.settings(task_queue=f"returns-order-{uuid.uuid4().hex[:8]}", worker_max_cached_workflows=0)


@pytest.fixture(scope="module")
def harness(time_skipping_env: WorkflowEnvironment, sandboxes: Sandboxes, queue: Settings) -> Returns:
    return Returns(time_skipping_env, sandboxes, queue)


@asynccontextmanager
async def worker_running(harness: Returns) -> AsyncIterator[None]:
    worker, shop = build_worker(harness.env.client, harness.settings)
    async with worker:
        yield
    await shop.aclose()


# --- The lost return ---------------------------------------------------------------------------


async def test_scans_arriving_backwards_while_no_worker_runs_still_resolve_the_return(harness: Returns) -> None:
    async with worker_running(harness):
        client, return_id = await harness.start(POLICY)
        await wait_for_stage(client, return_id, Stage.label_issued)
        await _quiet(harness, client, return_id)
    shipped_at = datetime.now(UTC)
    for status, hours in (
        (TrackingStatus.delivered, 48),
        (TrackingStatus.transit, 24),
        (TrackingStatus.pre_transit, 0),
    ):
        scan = CarrierScan(event_id=f"{status.value}-1", status=status, occurred_at=shipped_at + timedelta(hours=hours))
        for _ in range(2):  # Shippo retried each delivery
            await client.record_carrier_scan(return_id, scan)

    async with worker_running(harness):
        delivered = await wait_for_stage(client, return_id, Stage.delivered)
        assert delivered.tracking_status is TrackingStatus.delivered
        await harness.receive(client, return_id)
        await harness.inspect(client, return_id, {"L1": Grade.a, "L2": Grade.d})
        final = await harness.finish(client, return_id)

    assert final.stage is Stage.completed
    assert [r["amount"] for r in harness.refunds(return_id)] == [2 * 2500 - 599]
    assert harness.label_voids(return_id) == []
    assert [e.detail for e in final.timeline].count("carrier scan DELIVERED") == 1


# --- The property ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    kind: str  # scan | receipt | inspection | report
    payload: Any
    rank: int  # where it falls in the order things happened


@dataclass(frozen=True)
class Story:
    """One return's events: `physical` in the order they happened, `shuffled` as delivered."""

    physical: list[Event]
    shuffled: list[Event]
    reports: list[Event]  # Stripe's, once the refund exists
    shuffled_reports: list[Event]


_JOURNEY = [TrackingStatus.pre_transit, TrackingStatus.unknown, TrackingStatus.transit, TrackingStatus.delivered]
_LIFECYCLE = [RefundState.pending, RefundState.requires_action, RefundState.succeeded, RefundState.failed]
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def stories(draw: st.DrawFn) -> Story:
    statuses = draw(st.lists(st.sampled_from(_JOURNEY), unique=True, max_size=4))
    scans = [
        Event("scan", CarrierScan(event_id=f"trk-{s.value}", status=s, occurred_at=_EPOCH + timedelta(hours=r)), r)
        for r, s in sorted((_JOURNEY.index(s), s) for s in statuses)
    ]
    scans += [scan for scan in scans if draw(st.booleans())]  # redelivered

    # Something is owed (a shirt of ours comes back resellable), so the return is still open to
    # hear every late event: a return that owes nothing closes, and then refuses what comes later.
    receipts = []
    for n in range(draw(st.integers(0, 2))):
        lines = [
            ReceivedLine(line_id=line_id, quantity=draw(st.integers(0, ordered)), wrong_item=draw(st.booleans()))
            for line_id, ordered in ORDERED.items()
            if draw(st.booleans())
        ] or [ReceivedLine(line_id="L2", quantity=1)]
        if n == 0:
            lines = [line for line in lines if line.line_id != "L1"] + [ReceivedLine(line_id="L1", quantity=1)]
        receipts.append(ParcelReceipt(receipt_id=f"P-{n + 1}", received_by="dock-1", lines=lines))
    grades = {"L1": draw(st.sampled_from([Grade.a, Grade.b])), "L2": draw(st.sampled_from(list(Grade)))}
    inspection = InspectionReport(
        inspector="dock-1", lines=[LineInspection(line_id=line_id, grade=grade) for line_id, grade in grades.items()]
    )
    warehouse = [Event("receipt", r, 10 + n) for n, r in enumerate(receipts)] + [Event("inspection", inspection, 20)]
    for receipt in [e for e in warehouse if e.kind == "receipt" and draw(st.booleans())]:
        after = warehouse.index(receipt) + 1  # the handheld resent it, maybe after the inspection
        warehouse.insert(draw(st.integers(after, len(warehouse))), receipt)

    physical = sorted(scans, key=lambda e: e.rank) + warehouse
    shuffled = _interleave(draw(st.permutations(scans + warehouse)), warehouse)

    settled = draw(st.lists(st.sampled_from(_LIFECYCLE[2:]), unique=True, min_size=1))  # Stripe settles it
    reported = settled + draw(st.lists(st.sampled_from(_LIFECYCLE[:2]), unique=True))
    reports = [Event("report", s, _LIFECYCLE.index(s)) for s in reported]
    reports += [r for r in reports if draw(st.booleans())]
    physical_reports = sorted(reports, key=lambda e: e.rank)
    return Story(physical, shuffled, physical_reports, draw(st.permutations(reports)))


def _interleave(permutation: list[Event], ordered: list[Event]) -> list[Event]:
    """The permutation, with the events of `ordered` put back in their own order in the places they took."""
    keep = iter(ordered)
    return [next(keep) if any(event is o for o in ordered) else event for event in permutation]


@given(story=stories())
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: each example runs three returns
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_the_order_events_arrive_in_never_changes_where_a_return_ends(harness: Returns, story: Story) -> None:
    as_it_happened = await _play(harness, story.physical, story.reports, batched=False)
    one_at_a_time = await _play(harness, story.shuffled, story.shuffled_reports, batched=False)
    all_at_once = await _play(harness, story.shuffled, story.shuffled_reports, batched=True)
    assert one_at_a_time == as_it_happened
    assert all_at_once == as_it_happened


async def _play(harness: Returns, events: list[Event], reports: list[Event], *, batched: bool) -> dict[str, Any]:
    """Runs one return through `events`, then Stripe's `reports`; answers what it ended as."""
    async with worker_running(harness):
        client, return_id = await harness.start(POLICY)
        await wait_for_stage(client, return_id, Stage.label_issued)
        await _quiet(harness, client, return_id)  # nothing left running for the worker to drop
    payment = harness.requests[return_id].payment_intent_id
    harness.sandboxes.post("stripe", "/_sandbox/refund_outcomes", {"status": "pending", "payment_intent": payment})
    await _deliver(harness, client, return_id, events, batched=batched)
    async with worker_running(harness):
        status = await _quiet(harness, client, return_id)
        assert status.refund is not None and status.refund.status is RefundState.pending, status
    refund_id = status.refund.refund_id
    reports_as_sent = [
        Event(
            "report", PaymentUpdate(refund_id=refund_id, status=r.payload, failure_reason=_failure(r.payload)), r.rank
        )
        for r in reports
    ]
    for settled in sorted(
        {r.payload for r in reports} - {RefundState.pending, RefundState.requires_action}, key=_LIFECYCLE.index
    ):
        # What Stripe reports is what it would answer a poll with.
        transition = {"status": settled.value} | ({"failure_reason": _failure(settled)} if _failure(settled) else {})
        harness.sandboxes.post("stripe", f"/_sandbox/refunds/{refund_id}/transition", transition)
    await _deliver(harness, client, return_id, reports_as_sent, batched=batched)
    async with worker_running(harness):
        status = await _quiet(harness, client, return_id)
        if status.attention is not None:  # a failed refund waits for an operator
            await client.approve(return_id, OPERATOR)
        return _essence(await harness.finish(client, return_id))


def _failure(state: RefundState) -> str | None:
    return "expired_or_canceled_card" if state is RefundState.failed else None


async def _deliver(
    harness: Returns, client: ReturnsClient, return_id: str, events: list[Event], *, batched: bool
) -> None:
    """One at a time through the doors with the worker running (each handled before the next),
    or all at once as signals while no worker runs."""
    if batched:
        handle = harness.handle(return_id)
        for event in events:
            await _signal(handle, event)
        return
    async with worker_running(harness):
        for event in events:
            if event.kind == "receipt":
                await client.record_receipt(return_id, event.payload)
            elif event.kind == "inspection":
                await client.record_inspection(return_id, event.payload)
            else:
                await _signal(harness.handle(return_id), event)
            await _quiet(harness, client, return_id)


async def _signal(handle: WorkflowHandle, event: Event) -> None:
    signal = {
        "scan": ReturnWorkflow.carrier_scan,
        "receipt": ReturnWorkflow.parcel_received,
        "inspection": ReturnWorkflow.inspection_recorded,
        "report": ReturnWorkflow.payment_update,
    }[event.kind]
    await handle.signal(signal, event.payload)


async def _quiet(harness: Returns, client: ReturnsClient, return_id: str, timeout: float = 30) -> ReturnStatus:
    """Waits until the return has handled everything sent to it and no step is running (read from
    its history: the test server's describe does not show pending workflow tasks)."""
    handle = harness.handle(return_id)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if _at_rest(await handle.fetch_history()):
            # The test server may hand a query to a stopped worker's poll: then ask again.
            with contextlib.suppress(ReturnUnavailableError):
                return await client.status(return_id)
        assert asyncio.get_running_loop().time() < deadline, f"{return_id} never settled"
        await asyncio.sleep(0.05)


def _at_rest(history: WorkflowHistory) -> bool:
    """No workflow task scheduled or running, and no activity scheduled and not yet finished."""
    task_pending = False
    activities: set[int] = set()
    for event in history.events:
        kind = event.WhichOneof("attributes") or ""
        if kind in ("workflow_task_scheduled_event_attributes", "workflow_task_started_event_attributes"):
            task_pending = True
        elif kind.startswith("workflow_task_"):
            task_pending = kind != "workflow_task_completed_event_attributes"  # failed, timed out: again
        elif kind == "activity_task_scheduled_event_attributes":
            activities.add(event.event_id)
        elif kind.startswith("activity_task_") and kind != "activity_task_started_event_attributes":
            activities.discard(getattr(event, kind).scheduled_event_id)
    return not task_pending and not activities


def _essence(status: ReturnStatus) -> dict[str, Any]:
    """What must not depend on the order: stage, money, lines, and the timeline as a multiset,
    with the ids each run gets from the vendors written as placeholders."""
    ids = {status.return_id: "<return>", status.order_id: "<order>"}
    if status.label:
        ids |= {status.label.tracking_number: "<tracking>", status.label.transaction_id: "<label>"}
    resolution = status.resolution
    if resolution and resolution.refund:
        ids[resolution.refund.refund_id] = "<refund>"
    if resolution and resolution.store_credit:
        ids[resolution.store_credit.credit_id] = "<credit>"
    ids |= {line.disposition_work_id: f"<work {line.line_id}>" for line in status.lines if line.disposition_work_id}

    def clean(text: str) -> str:
        for value, placeholder in ids.items():
            text = text.replace(value, placeholder)
        return re.sub(r"\d{4}-\d{2}-\d{2}T[\d:.+]+", "<time>", text)

    return {
        "stage": status.stage,
        "tracking_status": status.tracking_status,
        "money": resolution
        and (
            resolution.kind,
            resolution.amount,
            resolution.fees,
            resolution.refund and (resolution.refund.amount, resolution.refund.status),
            resolution.store_credit and resolution.store_credit.amount,
        ),
        "lines": [
            (
                line.line_id,
                line.reception,
                line.received_quantity,
                line.wrong_item_quantity,
                line.grade,
                line.disposition,
            )
            for line in status.lines
        ],
        "attention": status.attention,
        "timeline": Counter((entry.actor, clean(entry.detail)) for entry in status.timeline),
    }
