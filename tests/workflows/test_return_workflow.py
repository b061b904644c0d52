"""ReturnWorkflow on the time-skipping test server, with the real activities against the sandboxes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integrations.settings import Settings
from integrations.stripe_payments import StripePayments
from starter.client import ReturnsClient, ReturnStateError
from starter.demo import DEMO_GRADES, demo_request
from tests.conftest import Sandboxes
from workflows.models import (
    CarrierScan,
    Grade,
    InspectionReport,
    LineInspection,
    ReturnStatus,
    Stage,
    TrackingStatus,
)
from workflows.return_workflow import workflow_id_for

# Two shirts graded A (resold) and a mug graded D that the shopper merely didn't want.
EXPECTED_REFUND = 2 * 2500


def _scan(event_id: str, status: TrackingStatus) -> CarrierScan:
    return CarrierScan(event_id=event_id, status=status, occurred_at=datetime.now(UTC))


def _inspection(grades: dict[str, Grade]) -> InspectionReport:
    return InspectionReport(inspector="dock-1", lines=[LineInspection(line_id=k, grade=v) for k, v in grades.items()])


@pytest.fixture
async def client(time_skipping_env: WorkflowEnvironment, settings: Settings, worker: Worker) -> ReturnsClient:
    return ReturnsClient(time_skipping_env.client, settings)


async def _start(client: ReturnsClient, settings: Settings) -> str:
    return_id = f"R-{uuid.uuid4().hex[:10]}"
    payment = await StripePayments(settings).create_test_payment(amount=10_000, currency="USD")
    await client.start_return(demo_request(return_id, payment))
    return return_id


async def _deliver(client: ReturnsClient, return_id: str) -> ReturnStatus:
    await client.wait_for_stage(return_id, Stage.label_issued)
    for n, status in enumerate((TrackingStatus.pre_transit, TrackingStatus.transit, TrackingStatus.delivered)):
        await client.record_carrier_scan(return_id, _scan(f"{return_id}-{n}", status))
    return await client.wait_for_stage(return_id, Stage.delivered)


def _refunds_for(sandboxes: Sandboxes, return_id: str) -> list[dict]:
    return [r for r in sandboxes.admin("stripe", "/_sandbox/refunds") if r["metadata"].get("return_id") == return_id]


async def test_happy_path_refunds_the_accepted_amount_once_and_restocks_resellable_lines(
    client: ReturnsClient, settings: Settings, sandboxes: Sandboxes
) -> None:
    return_id = await _start(client, settings)

    labelled = await client.wait_for_stage(return_id, Stage.label_issued)
    assert labelled.label is not None and labelled.label.label_url.startswith("http")
    labels = [t for t in sandboxes.admin("shippo", "/_sandbox/transactions") if t["metadata"] == f"return:{return_id}"]
    assert [t["tracking_number"] for t in labels] == [labelled.label.tracking_number]

    delivered = await _deliver(client, return_id)
    assert delivered.tracking_status is TrackingStatus.delivered
    assert delivered.refund is None

    await client.record_inspection(return_id, _inspection(DEMO_GRADES))
    final = await client.result(return_id)

    assert final.stage is Stage.completed
    assert final.refund is not None and final.refund.amount == EXPECTED_REFUND
    refunds = _refunds_for(sandboxes, return_id)
    assert [(r["id"], r["amount"], r["status"]) for r in refunds] == [(final.refund.refund_id, EXPECTED_REFUND, "succeeded")]
    restocks = sandboxes.admin("inventory", f"/v1/restocks?reference={return_id}")
    assert [(r["sku"], r["quantity"]) for r in restocks] == [("TSHIRT-M-BLUE", 2)]
    lines = {line.line_id: line for line in final.lines}
    assert lines["L1"].restock_id == restocks[0]["id"] and lines["L2"].restock_id is None
    stages_reached = []
    for entry in final.timeline:
        if not stages_reached or stages_reached[-1] is not entry.stage:
            stages_reached.append(entry.stage)
    assert stages_reached == list(Stage)


async def test_status_query_shows_every_stage_as_it_happens(client: ReturnsClient, settings: Settings) -> None:
    return_id = await _start(client, settings)
    requested_or_later = await client.status(return_id)
    assert requested_or_later.return_id == return_id and len(requested_or_later.lines) == 2

    await client.wait_for_stage(return_id, Stage.label_issued)
    await client.record_carrier_scan(return_id, _scan("scan-1", TrackingStatus.transit))
    in_transit = await client.wait_for_stage(return_id, Stage.in_transit)
    assert in_transit.stage is Stage.in_transit and in_transit.tracking_status is TrackingStatus.transit


async def test_duplicate_and_late_scans_never_move_a_return_backwards(client: ReturnsClient, settings: Settings) -> None:
    return_id = await _start(client, settings)
    await client.wait_for_stage(return_id, Stage.label_issued)
    await client.record_carrier_scan(return_id, _scan("e-2", TrackingStatus.delivered))
    await client.record_carrier_scan(return_id, _scan("e-2", TrackingStatus.delivered))  # redelivered webhook
    await client.record_carrier_scan(return_id, _scan("e-1", TrackingStatus.transit))  # arrives late
    await client.wait_for_stage(return_id, Stage.delivered)
    status = await client.status(return_id)
    carrier_notes = [entry for entry in status.timeline if entry.actor == "carrier"]
    assert status.stage is Stage.delivered
    assert [(entry.stage, entry.detail) for entry in carrier_notes] == [
        (Stage.delivered, "carrier scan DELIVERED"),
        (Stage.delivered, "carrier scan TRANSIT"),
    ]


async def test_inspection_before_delivery_is_refused_and_changes_nothing(client: ReturnsClient, settings: Settings) -> None:
    return_id = await _start(client, settings)
    await client.wait_for_stage(return_id, Stage.label_issued)
    with pytest.raises(ReturnStateError, match="not been delivered"):
        await client.record_inspection(return_id, _inspection(DEMO_GRADES))
    status = await client.status(return_id)
    assert status.stage is Stage.label_issued and status.inspected_by is None


async def test_inspection_must_grade_every_line(client: ReturnsClient, settings: Settings) -> None:
    return_id = await _start(client, settings)
    await _deliver(client, return_id)
    with pytest.raises(ValueError, match="each line exactly once"):
        await client.record_inspection(return_id, _inspection({"L1": Grade.a}))
    assert (await client.status(return_id)).inspected_by is None


async def test_starting_the_same_return_twice_gives_one_workflow_and_one_refund(
    client: ReturnsClient, settings: Settings, sandboxes: Sandboxes, time_skipping_env: WorkflowEnvironment
) -> None:
    return_id = f"R-{uuid.uuid4().hex[:10]}"
    payment = await StripePayments(settings).create_test_payment(amount=10_000, currency="USD")
    request = demo_request(return_id, payment)
    first = await client.start_return(request)
    run_id = (await time_skipping_env.client.get_workflow_handle(first).describe()).run_id
    second = await client.start_return(request)
    assert first == second == workflow_id_for(return_id)
    assert (await time_skipping_env.client.get_workflow_handle(first).describe()).run_id == run_id

    await _deliver(client, return_id)
    await client.record_inspection(return_id, _inspection(DEMO_GRADES))
    await client.result(return_id)
    assert await client.start_return(request) == first  # after completion: still the same return

    latest = await time_skipping_env.client.get_workflow_handle(first).describe()
    assert latest.run_id == run_id and latest.status is WorkflowExecutionStatus.COMPLETED
    assert [r["amount"] for r in _refunds_for(sandboxes, return_id)] == [EXPECTED_REFUND]
