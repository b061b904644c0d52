"""ReturnWorkflow on the time-skipping server with in-memory activities (fakes.py): the fast tier.

The real activities against the sandboxes run every branch in tests/integration/workflows/;
here the workflow's own decisions are checked in seconds, deadlines of days included.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import defined_activities
from devstack.checkout import DEMO_LINES, demo_order, demo_request
from integrations.settings import Settings
from starter.client import ReturnsClient
from starter.errors import InvalidReturnInput, ReturnStateError, ReturnUnavailableError
from tests.unit.workflows.fakes import FakeShopPlatform, FakeVendors
from workflows.contract import workflow_id_for
from workflows.models import (
    Acknowledgement,
    CarrierScan,
    DispositionConfirmation,
    InspectionReport,
    LineInspection,
    OperatorAction,
    ReturnStatus,
    StartReturn,
)
from workflows.policy import ReturnPolicy, ReviewRule
from workflows.return_workflow import ReturnWorkflow
from workflows.vocabulary import Grade, Stage, TrackingStatus

pytestmark = pytest.mark.timeskipping

POLICY = ReturnPolicy(version="unit-1", return_shipping_fee=599)
OPERATOR = OperatorAction(actor="operator:kim", reason="checked")


@pytest.fixture(scope="module")
def env(time_skipping_env: WorkflowEnvironment) -> WorkflowEnvironment:
    return time_skipping_env


@pytest.fixture(scope="module")
def vendors() -> FakeVendors:
    return FakeVendors()


@pytest.fixture(scope="module")
async def client(env: WorkflowEnvironment, vendors: FakeVendors) -> AsyncIterator[ReturnsClient]:
    settings = Settings(task_queue=f"unit-{uuid.uuid4().hex[:8]}")
    async with Worker(
        env.client, task_queue=settings.task_queue, workflows=[ReturnWorkflow], activities=defined_activities(vendors)
    ):
        yield ReturnsClient(env.client, settings, policy=POLICY, shop=FakeShopPlatform(vendors))


async def start(
    env: WorkflowEnvironment,
    vendors: FakeVendors,
    client: ReturnsClient,
    return_id: str | None = None,
    **changes: object,
) -> str:
    return_id = return_id or f"R-{uuid.uuid4().hex[:8]}"
    order = demo_order(f"ORD-{return_id}", "CUS-ada", now=await env.get_current_time(), paid_with="pi_unit")
    vendors.orders[order.order_id] = order
    await client.start(demo_request(return_id, "pi_unit", order.order_id, **changes))
    return return_id


async def until(
    client: ReturnsClient, return_id: str, stage: Stage, *, unreachable_is_not_yet: bool = False
) -> ReturnStatus:
    status = None
    for _ in range(400):
        try:
            status = await client.status(return_id)
        except ReturnUnavailableError:
            if not unreachable_is_not_yet:
                raise
            continue
        if status.stage is stage:
            return status
        await asyncio.sleep(0.02)
    raise AssertionError(f"{return_id} never reached {stage.value}: {status.stage.value if status else 'unreachable'}")


async def deliver_and_inspect(client: ReturnsClient, return_id: str, grades: dict[str, Grade]) -> None:
    await until(client, return_id, Stage.label_issued)
    await client.record_carrier_scan(
        return_id,
        CarrierScan(event_id=f"{return_id}-d", status=TrackingStatus.delivered, occurred_at=datetime.now(UTC)),
    )
    await until(client, return_id, Stage.delivered)
    report = InspectionReport(
        inspector="warehouse:dock-1", lines=[LineInspection(line_id=k, grade=v) for k, v in grades.items()]
    )
    await client.record_inspection(return_id, report)


async def closed(env: WorkflowEnvironment, client: ReturnsClient, return_id: str, days: int = 60) -> ReturnStatus:
    handle = env.client.get_workflow_handle(workflow_id_for(return_id))
    for _ in range(days):
        if (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING:
            break
        await env.sleep(timedelta(days=1))
    return await client.result(return_id)


async def test_happy_path_refunds_once_and_stays_open_until_the_work_order_is_confirmed(
    env: WorkflowEnvironment, vendors: FakeVendors, client: ReturnsClient
) -> None:
    return_id = await start(env, vendors, client)
    await deliver_and_inspect(client, return_id, {"L1": Grade.a, "L2": Grade.d})  # shirts resell, the mug is broken
    completed = await until(client, return_id, Stage.completed)
    assert vendors.refunded(return_id) == [2 * 2500 - 599]
    assert [line.disposition_confirmed_by for line in completed.lines] == [None, None]
    assert "disposition_work" in completed.deadlines  # the recycling order is still open

    acknowledged = await client.confirm_disposition(
        return_id, DispositionConfirmation(line_id="L2", confirmed_by="warehouse:dock-1")
    )
    assert acknowledged == Acknowledgement(return_id=return_id, action="confirm_disposition", stage=Stage.completed)
    await client.confirm_disposition(return_id, DispositionConfirmation(line_id="L2", confirmed_by="warehouse:bob"))
    final = await closed(env, client, return_id)
    assert {line.line_id: line.disposition_confirmed_by for line in final.lines} == {
        "L1": None,
        "L2": "warehouse:dock-1",
    }
    assert vendors.completions[f"wo-{return_id}-L2"] == "warehouse:dock-1"  # told the shop once
    assert [e.detail for e in final.timeline].count("L2: recycle work confirmed done") == 1


async def test_unconfirmed_work_is_noted_when_the_return_closes(
    env: WorkflowEnvironment, vendors: FakeVendors, client: ReturnsClient
) -> None:
    return_id = await start(env, vendors, client)
    await deliver_and_inspect(client, return_id, {"L1": Grade.a, "L2": Grade.d})
    final = await closed(env, client, return_id)
    assert final.stage is Stage.completed
    assert final.timeline[-1].detail == "disposition work not confirmed within 30 day(s): L2 (recycle)"


async def test_a_restock_has_no_work_to_confirm(
    env: WorkflowEnvironment, vendors: FakeVendors, client: ReturnsClient
) -> None:
    return_id = await start(env, vendors, client)
    await deliver_and_inspect(client, return_id, {"L1": Grade.a, "L2": Grade.d})
    await until(client, return_id, Stage.completed)
    with pytest.raises(ReturnStateError, match="restocked"):
        await client.confirm_disposition(return_id, DispositionConfirmation(line_id="L1", confirmed_by="warehouse:x"))
    with pytest.raises(InvalidReturnInput, match="no line L9"):
        await client.confirm_disposition(return_id, DispositionConfirmation(line_id="L9", confirmed_by="warehouse:x"))


async def test_an_order_the_shop_does_not_know_is_refused_at_the_door_and_nothing_starts(
    env: WorkflowEnvironment, client: ReturnsClient
) -> None:
    return_id = f"R-{uuid.uuid4().hex[:8]}"
    with pytest.raises(InvalidReturnInput, match="unknown order ORD-nowhere") as refused:
        await client.start(demo_request(return_id, "pi_unit", "ORD-nowhere"))
    assert refused.value.field == "order_id"
    with pytest.raises(RPCError, match="not found"):
        await env.client.get_workflow_handle(workflow_id_for(return_id)).describe()


async def test_an_order_gone_by_the_time_the_return_runs_is_declined_at_once(
    env: WorkflowEnvironment, vendors: FakeVendors, client: ReturnsClient
) -> None:
    """The door checked the order; the shop deleted it before the workflow loaded it."""
    return_id = f"R-{uuid.uuid4().hex[:8]}"
    request = demo_request(return_id, "pi_unit", "ORD-nowhere")
    await env.client.start_workflow(
        ReturnWorkflow.run,
        StartReturn(request=request, policy=POLICY),
        id=workflow_id_for(return_id),
        task_queue=client.settings.task_queue,
    )
    final = await client.result(return_id)
    assert final.stage is Stage.declined and final.attention is None
    assert final.timeline[-1].detail == "the shop has no order ORD-nowhere"
    assert not [label for label in vendors.labels if label.transaction_id == f"tx-{return_id}"]
    assert [(n.kind.value, n.detail) for n in vendors.notifications if n.return_id == return_id] == [
        ("declined", "the shop has no order ORD-nowhere")
    ]


async def test_a_rejected_review_says_rejected_and_actions_answer_small(
    env: WorkflowEnvironment, vendors: FakeVendors, client: ReturnsClient
) -> None:
    in_review = ReturnsClient(
        client.temporal,
        client.settings,
        policy=POLICY.model_copy(update={"review": ReviewRule(amount_over=0)}),
        shop=FakeShopPlatform(vendors),
    )
    return_id = await start(env, vendors, in_review)
    await until(client, return_id, Stage.needs_review)
    acknowledged = await client.reject(return_id, OPERATOR)
    assert acknowledged == Acknowledgement(return_id=return_id, action="reject", stage=Stage.needs_review)
    final = await client.result(return_id)
    assert final.stage is Stage.declined
    assert "rejected (review): checked" in [entry.detail for entry in final.timeline]


async def test_a_late_receipt_is_flagged_and_the_flag_clears(
    env: WorkflowEnvironment, vendors: FakeVendors, client: ReturnsClient
) -> None:
    return_id = await start(env, vendors, client, lines=DEMO_LINES[:1])
    await until(client, return_id, Stage.label_issued)
    await client.record_carrier_scan(
        return_id,
        CarrierScan(event_id=f"{return_id}-d", status=TrackingStatus.delivered, occurred_at=datetime.now(UTC)),
    )
    await until(client, return_id, Stage.delivered)
    await env.sleep(timedelta(days=POLICY.deadlines.receiving_days + 0.5))
    flagged = await client.status(return_id)
    assert flagged.attention is not None and flagged.attention.reason.startswith("not fully received within 5 day(s)")
    report = InspectionReport(inspector="warehouse:dock-1", lines=[LineInspection(line_id="L1", grade=Grade.a)])
    await client.record_inspection(return_id, report)
    assert (await until(client, return_id, Stage.completed)).attention is None


async def test_each_change_of_a_return_is_one_event_in_sequence_with_its_status_then(
    env: WorkflowEnvironment, vendors: FakeVendors, client: ReturnsClient
) -> None:
    return_id = await start(env, vendors, client)
    await deliver_and_inspect(client, return_id, {"L1": Grade.a, "L2": Grade.d})
    await until(client, return_id, Stage.completed)
    await client.confirm_disposition(return_id, DispositionConfirmation(line_id="L2", confirmed_by="warehouse:dock-1"))
    final = await closed(env, client, return_id)
    events = vendors.events_of(return_id)
    assert [event.type.value for event in events] == [
        "requested",
        "approved",
        "label_issued",
        "delivered",
        "inspected",
        "disposition_done",  # L1 restocked
        "disposition_done",  # L2 recycled
        "refunded",
        "completed",
        "closed",  # the run's end: its final status, with the recycling confirmed
    ]
    assert [event.sequence for event in events] == list(range(1, len(events) + 1))
    assert [event.id for event in events] == [f"evt_{return_id}_{n}" for n in range(1, len(events) + 1)]
    assert [event.data["stage"] for event in events] == [
        "requested",
        "approved",
        "label_issued",
        "delivered",
        "inspecting",
        "inspecting",
        "inspecting",
        "resolving",
        "completed",
        "completed",
    ]
    assert events[-1].data["resolution"]["refund"]["amount"] == 2 * 2500 - 599
    assert events[-1].status() == final  # what the store keeps once Temporal deletes the run
    assert all(earlier.created_at <= later.created_at for earlier, later in zip(events, events[1:], strict=False))


async def test_a_store_that_is_down_holds_the_events_back_never_the_return_and_loses_none(
    env: WorkflowEnvironment, vendors: FakeVendors, client: ReturnsClient
) -> None:
    # Down for this return's events only: the session's other open returns would retry theirs as
    # fast as the time-skipping server lets them, and starve the worker.
    return_id = f"R-{uuid.uuid4().hex[:8]}"
    vendors.event_store_down_for.add(return_id)
    try:
        await start(env, vendors, client, return_id)
        # The return goes on without its store. Its status may be out of reach for a moment meanwhile:
        # the worker's own try at each append holds the change's workflow task open, and a query waits.
        await until(client, return_id, Stage.label_issued, unreachable_is_not_yet=True)
        assert vendors.events_of(return_id) == []
    finally:
        vendors.event_store_down_for.discard(return_id)
    await deliver_and_inspect(client, return_id, {"L1": Grade.a, "L2": Grade.a})
    await closed(env, client, return_id)
    events = vendors.events_of(return_id)
    assert [event.type.value for event in events][:3] == ["requested", "approved", "label_issued"]
    assert [event.sequence for event in events] == list(range(1, len(events) + 1))
    assert [event.type.value for event in events][-2:] == ["completed", "closed"]
