"""Whatever its callers do, a return stays far below Temporal's limits and keeps working: a flood of
10,000 updates is refused past the caps without touching the history, redelivered signals change
nothing (each does land in the history: that is what a signal is; the webhooks that send them are
authenticated as the vendor's), and the return still resolves. On the real dev server (which, unlike
the time-skipping test server, writes nothing for a refused update), with the in-memory activities
(the vendors are not what is under test)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import defined_activities
from devstack.checkout import demo_order, demo_request
from devstack.polling import wait_for_stage
from integrations.settings import Settings
from integrations.temporal_client import RETURNS_DATA_CONVERTER
from starter.client import ReturnsClient
from starter.errors import ReturnStateError, ReturnUnavailableError
from tests.unit.workflows.fakes import FakeShopPlatform, FakeVendors
from workflows.contract import workflow_id_for
from workflows.models import CarrierScan, InspectionReport, LineInspection, OperatorAction, ParcelReceipt, ReceivedLine
from workflows.policy import ReturnPolicy
from workflows.return_workflow import ReturnWorkflow
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES
from workflows.state import MAX_PARCELS
from workflows.vocabulary import Grade, Stage, TrackingStatus

pytestmark = pytest.mark.devserver

FLOOD = 10_000
POLICY = ReturnPolicy(version="limits-1", return_shipping_fee=599)


@pytest.fixture(scope="module")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=RETURNS_DATA_CONVERTER,
        dev_server_existing_path=os.environ.get("TEMPORAL_CLI_PATH") or None,
        dev_server_startup_timeout=timedelta(seconds=60),
        search_attributes=SEARCH_ATTRIBUTES,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="module")
async def client(dev_server: WorkflowEnvironment) -> AsyncIterator[tuple[ReturnsClient, FakeVendors]]:
    vendors = FakeVendors()
    settings = Settings(task_queue=f"limits-{uuid.uuid4().hex[:8]}")
    async with Worker(
        dev_server.client,
        task_queue=settings.task_queue,
        workflows=[ReturnWorkflow],
        activities=defined_activities(vendors),
    ):
        yield ReturnsClient(dev_server.client, settings, policy=POLICY, shop=FakeShopPlatform(vendors)), vendors


async def test_a_flood_of_updates_and_signals_leaves_a_return_working_and_its_history_bounded(
    dev_server: WorkflowEnvironment, client: tuple[ReturnsClient, FakeVendors]
) -> None:
    returns, vendors = client
    return_id = f"R-{uuid.uuid4().hex[:8]}"
    order = demo_order(f"ORD-{return_id}", "CUS-ada", now=datetime.now(UTC), paid_with="pi_x")
    vendors.orders[order.order_id] = order
    await returns.start(demo_request(return_id, "pi_x", order.order_id))
    await wait_for_stage(returns, return_id, Stage.label_issued)
    delivered = CarrierScan(event_id="carrier-1", status=TrackingStatus.delivered, occurred_at=datetime.now(UTC))
    await returns.record_carrier_scan(return_id, delivered)
    await wait_for_stage(returns, return_id, Stage.delivered)
    handle = dev_server.client.get_workflow_handle(workflow_id_for(return_id))
    history_before = len((await handle.fetch_history()).events)

    refused = busy = 0
    gate = asyncio.Semaphore(8)  # the server takes 10 updates in flight per workflow; more are told to try again

    async def receipt(n: int) -> None:
        nonlocal refused, busy
        parcel = ParcelReceipt(
            receipt_id=f"P-{n}", received_by="dock-1", lines=[ReceivedLine(line_id="L2", quantity=1)]
        )
        async with gate:
            try:
                await returns.record_receipt(return_id, parcel)
            except ReturnStateError:
                refused += 1
            except ReturnUnavailableError:
                busy += 1

    await asyncio.gather(*(receipt(n) for n in range(FLOOD)))
    assert (refused, busy) == (FLOOD - MAX_PARCELS, 0)
    with pytest.raises(ReturnStateError, match="nothing is waiting"):
        await returns.approve(return_id, OperatorAction(actor="operator:kim", reason="spam"))
    # Each accepted receipt is a few events (the update, its return event's activity); the refused
    # updates never reach the history.
    assert len((await handle.fetch_history()).events) - history_before < MAX_PARCELS * 9

    for _ in range(200):  # Shippo redelivering one event: each lands in the history (Temporal's signals
        await returns.record_carrier_scan(return_id, delivered)  # do), and changes nothing
    status = await returns.status(return_id)
    assert [entry.detail for entry in status.timeline].count("carrier scan DELIVERED") == 1
    report = InspectionReport(
        inspector="dock-1",
        lines=[LineInspection(line_id="L1", grade=Grade.a), LineInspection(line_id="L2", grade=Grade.a)],
    )
    await returns.record_inspection(return_id, report)
    done = await wait_for_stage(returns, return_id, Stage.completed)
    assert done.stage is Stage.completed and vendors.refunded(return_id) == [1_200 - 599]  # the mug, no shirt


async def test_more_updates_in_flight_than_the_server_takes_are_told_to_try_again(
    dev_server: WorkflowEnvironment, client: tuple[ReturnsClient, FakeVendors]
) -> None:
    returns, vendors = client
    return_id = f"R-{uuid.uuid4().hex[:8]}"
    order = demo_order(f"ORD-{return_id}", "CUS-ada", now=datetime.now(UTC), paid_with="pi_y")
    vendors.orders[order.order_id] = order
    await returns.start(demo_request(return_id, "pi_y", order.order_id))
    await wait_for_stage(returns, return_id, Stage.label_issued)
    outcomes = await asyncio.gather(
        *(returns.approve(return_id, OperatorAction(actor="operator:kim", reason="x")) for _ in range(50)),
        return_exceptions=True,
    )
    unexpected = [
        (type(outcome).__name__, getattr(outcome, "status", None), str(outcome))
        for outcome in outcomes
        if not isinstance(outcome, ReturnStateError | ReturnUnavailableError)
    ]
    assert unexpected == []  # refused or "try again", never a crash
