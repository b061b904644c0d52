"""ReturnWorkflow on the time-skipping test server, with the real activities against the
sandboxes: every branch of the lifecycle, crossing the real deadlines (days, not seconds).

`RECORD_HISTORIES=1 make test` (re)records each test's histories under
tests/workflows/histories/, which test_replay.py replays against the current code.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import stripe
from pydantic import ValidationError
from temporalio.client import WorkflowExecutionStatus

from activities.models import OrderFacts, OrderPayment
from devstack.checkout import DEMO_GRADES, DEMO_LINES, charge_shopper, demo_request
from devstack.polling import wait_for_stage
from starter.errors import InvalidReturnInput, ReturnConflictError, ReturnStateError
from tests.integration.workflows.harness import OPERATOR, Returns, scan, stages_reached
from workflows.contract import workflow_id_for
from workflows.models import (
    Cancellation,
    DeadlineExtension,
    DispositionConfirmation,
    DispositionOverride,
    InspectionReport,
    LineInspection,
    OtherWay,
    ParcelReceipt,
    PaymentUpdate,
    ReceivedLine,
    StartReturn,
)
from workflows.policy import (
    Deadlines,
    DispositionRule,
    GradeOutcome,
    InstantRefundRule,
    LostParcelAction,
    OutOfStockFallback,
    RefundFailureFallback,
    ReturnPolicy,
    ReviewRule,
)
from workflows.return_workflow import ReturnWorkflow
from workflows.search_attributes import NEEDS_ATTENTION, RETURN_STAGE
from workflows.vocabulary import (
    Deadline,
    Decision,
    DeclineReason,
    Disposition,
    Grade,
    Reception,
    RefundState,
    ResolutionKind,
    ReturnMethod,
    Stage,
    TrackingStatus,
    WayOut,
)

# The demo order: L1 two shirts at 25.00 (size), L2 one mug at 12.00 (unwanted), paid 100.00.
POLICY = ReturnPolicy(version="test-1", return_shipping_fee=599, restocking_fee_bp_by_grade={Grade.b: 1_000})
ALREADY_REFUNDED = {
    "error": {
        "type": "invalid_request_error",
        "code": "charge_already_refunded",
        "message": "Charge ch_1 has already been refunded.",
    }
}
SHIRTS = 2 * 2500


async def _search_attributes(harness: Returns, return_id: str) -> dict[str, str]:
    described = await harness.handle(return_id).describe()
    attributes = described.typed_search_attributes
    return {"stage": attributes.get(RETURN_STAGE), "attention": attributes.get(NEEDS_ATTENTION)}


# --- The happy path -----------------------------------------------------------------------


async def test_happy_path_refunds_accepted_lines_less_fees_once(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    labelled = await wait_for_stage(client, return_id, Stage.label_issued)
    assert labelled.label is not None and labelled.label.label_url
    assert [label["tracking_number"] for label in harness.labels(return_id)] == [labelled.label.tracking_number]

    await harness.deliver(client, return_id)
    await harness.receive(client, return_id)
    await harness.inspect(client, return_id, DEMO_GRADES)
    final = await harness.finish(client, return_id)

    assert final.stage is Stage.completed
    assert stages_reached(final) == [
        Stage.requested,
        Stage.approved,
        Stage.label_issued,
        Stage.in_transit,
        Stage.delivered,
        Stage.inspecting,
        Stage.resolving,
        Stage.completed,
    ]
    expected = SHIRTS - 599  # the broken mug was merely unwanted: no refund; the label is charged
    assert final.resolution is not None and final.resolution.fees == 599
    assert [(r["amount"], r["status"]) for r in harness.refunds(return_id)] == [(expected, "succeeded")]
    lines = {line.line_id: line for line in final.lines}
    assert (lines["L1"].disposition, lines["L2"].disposition) == (Disposition.restock, Disposition.recycle)
    assert [(r["sku"], r["quantity"]) for r in harness.shop("restocks", return_id)] == [("TSHIRT-M-BLUE", 2)]
    assert [w["kind"] for w in harness.shop("work_orders", return_id)] == ["recycling"]
    assert {n["kind"] for n in harness.shop("notifications", return_id)} == {"label_ready", "received", "refunded"}
    assert await _search_attributes(harness, return_id) == {"stage": "completed", "attention": None}


async def test_starting_the_same_return_twice_gives_one_workflow_and_one_refund(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    handle = harness.handle(return_id)
    run_id = (await handle.describe()).run_id
    assert (await client.start(harness.requests[return_id])).workflow_id == handle.id
    assert (await handle.describe()).run_id == run_id
    different = harness.requests[return_id].model_copy(update={"lines": DEMO_LINES[:1]})
    with pytest.raises(ReturnConflictError):
        await client.start(different)
    await harness.deliver(client, return_id)
    await harness.inspect(client, return_id, DEMO_GRADES)
    await harness.finish(client, return_id)
    assert (await client.start(harness.requests[return_id])).workflow_id == handle.id  # after completion too
    latest = await handle.describe()
    assert latest.run_id == run_id and latest.status is WorkflowExecutionStatus.COMPLETED
    assert len(harness.refunds(return_id)) == 1


# --- Eligibility and review -----------------------------------------------------------------


async def test_ineligible_return_is_declined_without_buying_a_label(harness: Returns) -> None:
    policy = POLICY.model_copy(update={"non_returnable_categories": frozenset({"apparel", "kitchen"})})
    client, return_id = await harness.start(policy)
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.declined
    assert {line.declined for line in final.lines} == {DeclineReason.non_returnable}
    assert harness.labels(return_id) == [] and harness.refunds(return_id) == []
    assert [n["kind"] for n in harness.shop("notifications", return_id)] == ["declined"]


async def test_an_order_the_shop_does_not_know_is_refused_at_the_door_or_declined_at_once(harness: Returns) -> None:
    with pytest.raises(InvalidReturnInput, match="unknown order") as refused:
        await harness.start(POLICY, seeded=False)
    assert refused.value.field == "order_id"
    # The order gone between the door's look and the workflow's own: the return declines itself.
    return_id = f"R-{uuid.uuid4().hex[:10]}"
    request = demo_request(return_id, "pi_gone", f"ORD-{return_id}")
    await harness.env.client.start_workflow(
        ReturnWorkflow.run,
        StartReturn(request=request, policy=POLICY),
        id=workflow_id_for(return_id),
        task_queue=harness.settings.task_queue,
    )
    harness.requests[return_id] = request
    client = harness.client(POLICY)
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.declined and final.attention is None
    assert final.timeline[-1].detail == f"the shop has no order ORD-{return_id}"
    assert harness.labels(return_id) == [] and harness.refunds(return_id) == []
    assert [n["kind"] for n in harness.shop("notifications", return_id)] == ["declined"]


async def test_confirmed_disposition_work_reaches_the_shop_and_lets_the_return_close(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await harness.deliver(client, return_id)
    await harness.inspect(client, return_id, DEMO_GRADES)  # the broken mug goes to recycling
    await harness.until(client, return_id, lambda s: s.stage is Stage.completed)
    await client.confirm_disposition(return_id, DispositionConfirmation(line_id="L2", confirmed_by="warehouse:dock-1"))
    final = await harness.finish(client, return_id)
    assert {line.line_id: line.disposition_confirmed_by for line in final.lines}["L2"] == "warehouse:dock-1"
    assert [(w["kind"], w["status"], w["completed_by"]) for w in harness.shop("work_orders", return_id)] == [
        ("recycling", "completed", "warehouse:dock-1")
    ]


async def test_outside_the_window_and_unknown_lines_are_declined_line_by_line(harness: Returns) -> None:
    order = await harness.order("ORD-late", delivered_days_ago=45)
    client, return_id = await harness.start(POLICY, order=order)
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.declined
    assert {line.declined for line in final.lines} == {DeclineReason.outside_return_window}


async def test_review_deadline_escalates_and_never_approves_silently(harness: Returns) -> None:
    policy = POLICY.model_copy(update={"review": ReviewRule(amount_over=1_000)})
    client, return_id = await harness.start(policy)
    status = await wait_for_stage(client, return_id, Stage.needs_review)
    assert status.stage is Stage.needs_review and harness.labels(return_id) == []

    await harness.skip(policy.deadlines.review_days + 1)
    escalated = await client.status(return_id)
    assert escalated.stage is Stage.needs_review
    assert escalated.attention is not None and escalated.attention.reason.startswith("escalated")
    assert (await _search_attributes(harness, return_id))["attention"] == "true"

    await client.approve(return_id, OPERATOR)
    approved = await wait_for_stage(client, return_id, Stage.label_issued)
    assert approved.attention is None and len(harness.labels(return_id)) == 1
    assert any(e.actor == "ops:kim" and "checked with the customer" in e.detail for e in approved.timeline)


async def test_rejected_review_declines(harness: Returns) -> None:
    policy = POLICY.model_copy(update={"review": ReviewRule(amount_over=1_000)})
    client, return_id = await harness.start(policy)
    await wait_for_stage(client, return_id, Stage.needs_review)
    await client.reject(return_id, OPERATOR)
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.declined
    assert {line.declined for line in final.lines} == {DeclineReason.rejected_by_operator}


async def test_quantities_another_return_of_the_order_took_are_declined(harness: Returns) -> None:
    order = await harness.order("ORD-twice")
    client, first = await harness.start(POLICY, order=order)
    await wait_for_stage(client, first, Stage.label_issued)
    _, second = await harness.start(POLICY, order=order)
    final = await harness.finish(client, second)
    assert final.stage is Stage.declined
    assert {line.declined for line in final.lines} == {DeclineReason.quantity_exceeded}
    assert harness.labels(second) == []


# --- Ship-by deadline, cancellation -------------------------------------------------------


async def test_nothing_shipped_by_the_deadline_voids_the_label_and_expires(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await wait_for_stage(client, return_id, Stage.label_issued)
    await harness.skip(POLICY.deadlines.ship_by_days + 1)
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.expired and final.label_voided
    assert len(harness.label_voids(return_id)) == 1
    assert harness.refunds(return_id) == []
    assert "expired" in [n["kind"] for n in harness.shop("notifications", return_id)]


async def test_an_extended_ship_by_deadline_is_honoured(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await wait_for_stage(client, return_id, Stage.label_issued)
    await harness.skip(POLICY.deadlines.ship_by_days - 1)
    await client.extend_deadline(
        return_id, DeadlineExtension(actor="ops:kim", reason="shopper travelling", deadline="ship_by", days=7)
    )
    await harness.skip(3)  # past the original deadline
    assert (await client.status(return_id)).stage is Stage.label_issued
    await harness.ship(client, return_id)
    assert harness.label_voids(return_id) == []


async def test_shopper_cancels_before_shipping_and_the_label_is_voided(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await wait_for_stage(client, return_id, Stage.label_issued)
    await client.cancel(return_id, Cancellation(actor="shopper", reason="changed my mind", requested_by="shopper"))
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.cancelled and final.label_voided
    assert len(harness.label_voids(return_id)) == 1
    assert [r["released"] for r in harness.shop("reservations", return_id)] == [True]


async def test_shopper_cannot_cancel_a_shipped_parcel_but_an_operator_can(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await harness.ship(client, return_id)
    with pytest.raises(ReturnStateError, match="shipped"):
        await client.cancel(return_id, Cancellation(actor="shopper", reason="too late", requested_by="shopper"))
    await client.cancel(return_id, Cancellation(actor="ops:kim", reason="fraud suspected", requested_by="operator"))
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.cancelled and not final.label_voided  # a used label can't be voided
    assert harness.refunds(return_id) == []


async def test_operator_cancel_after_restock_reverses_the_restock(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await harness.deliver(client, return_id)
    harness.sandboxes.fault("shop", path="/v1/recycling_orders", status=503, times=1_000)
    await harness.inspect(client, return_id, DEMO_GRADES)
    stuck = await harness.until(client, return_id, lambda s: s.attention is not None, skip=timedelta(minutes=2))
    assert stuck.attention.step == "recycle L2"
    await client.cancel(return_id, Cancellation(actor="ops:kim", reason="customer kept it", requested_by="operator"))
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.cancelled
    lines = {line.line_id: line for line in final.lines}
    assert lines["L1"].restock_reversed
    restock = harness.shop("restocks", return_id)
    assert len(restock) == 1 and restock[0]["reversed"]
    assert harness.refunds(return_id) == []


# --- In transit ----------------------------------------------------------------------------


async def test_duplicate_and_late_scans_never_move_a_return_backwards(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await wait_for_stage(client, return_id, Stage.label_issued)
    await client.record_carrier_scan(return_id, scan(TrackingStatus.delivered, "e-2"))
    await client.record_carrier_scan(return_id, scan(TrackingStatus.delivered, "e-2"))  # redelivered webhook
    await client.record_carrier_scan(return_id, scan(TrackingStatus.transit, "e-1"))  # arrives late
    await wait_for_stage(client, return_id, Stage.delivered)
    status = await client.status(return_id)
    carrier_notes = [(e.stage, e.detail) for e in status.timeline if e.actor == "carrier"]
    assert status.stage is Stage.delivered
    assert carrier_notes == [(Stage.delivered, "carrier scan DELIVERED"), (Stage.delivered, "carrier scan TRANSIT")]


async def test_a_stalled_parcel_is_flagged_and_unflagged_when_it_moves(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await harness.ship(client, return_id)
    await harness.skip(POLICY.deadlines.transit_stall_days + 1)
    stalled = await client.status(return_id)
    assert stalled.stage is Stage.in_transit and stalled.attention is not None
    assert "no carrier progress" in stalled.attention.reason
    await client.record_carrier_scan(return_id, scan(TrackingStatus.delivered))
    moving = await wait_for_stage(client, return_id, Stage.delivered)
    assert moving.attention is None


@pytest.mark.parametrize("action", [LostParcelAction.refund, LostParcelAction.operator])
async def test_a_lost_parcel_is_refunded_per_policy(harness: Returns, action: LostParcelAction) -> None:
    policy = POLICY.model_copy(update={"lost_parcel": action})
    client, return_id = await harness.start(policy)
    await harness.ship(client, return_id)
    await client.record_carrier_scan(return_id, scan(TrackingStatus.failure))
    if action is LostParcelAction.operator:
        waiting = await harness.until(client, return_id, lambda s: s.attention is not None)
        assert "FAILURE" in waiting.attention.reason
        assert harness.refunds(return_id) == []
        await client.approve(return_id, OPERATOR)
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.completed
    assert {line.reception for line in final.lines} == {Reception.lost_in_transit}
    assert [r["amount"] for r in harness.refunds(return_id)] == [SHIRTS + 1200]  # the shop's loss, no fees


# --- Receiving and inspection ----------------------------------------------------------------


async def test_partial_receipts_refund_only_what_arrived(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await harness.deliver(client, return_id)
    await harness.receive(client, return_id, {"L1": 1})
    await harness.receive(client, return_id, {"L2": 1})
    await harness.inspect(client, return_id, {"L1": Grade.a, "L2": Grade.a})
    final = await harness.finish(client, return_id)
    lines = {line.line_id: line for line in final.lines}
    assert (lines["L1"].reception, lines["L2"].reception) == (Reception.short_shipped, Reception.received)
    assert [r["amount"] for r in harness.refunds(return_id)] == [2500 + 1200 - 599]
    assert [(r["sku"], r["quantity"]) for r in harness.shop("restocks", return_id)] == [
        ("TSHIRT-M-BLUE", 1),
        ("MUG-WHITE", 1),
    ]


async def test_warehouse_messages_the_state_refuses_change_nothing_and_redeliveries_count_once(
    harness: Returns,
) -> None:
    in_review = POLICY.model_copy(update={"review": ReviewRule(amount_over=0)})
    client, return_id = await harness.start(in_review)
    before = await harness.until(client, return_id, lambda s: s.stage is Stage.needs_review)
    all_lines = {"L1": Grade.a, "L2": Grade.a}
    with pytest.raises(ReturnStateError, match="no parcel") as refused:
        await harness.inspect(client, return_id, all_lines)
    assert refused.value.stage is Stage.needs_review
    with pytest.raises(ReturnStateError, match="no parcel"):
        await harness.receive(client, return_id, {"L1": 1})
    unknown = ParcelReceipt(receipt_id="P-x", received_by="dock-1", lines=[ReceivedLine(line_id="L9", quantity=1)])
    with pytest.raises(InvalidReturnInput, match="L9") as invalid:
        await client.record_receipt(return_id, unknown)
    assert invalid.value.field == "lines"
    assert (await client.status(return_id)).timeline == before.timeline

    await client.approve(return_id, OPERATOR)
    await harness.deliver(client, return_id)
    receipt = ParcelReceipt(receipt_id="P-1", received_by="dock-1", lines=[ReceivedLine(line_id="L1", quantity=1)])
    await client.record_receipt(return_id, receipt)
    first = await client.status(return_id)
    await client.record_receipt(return_id, receipt)  # the handheld retried
    again = await client.status(return_id)
    assert [line.received_quantity for line in again.lines if line.line_id == "L1"] == [1]
    assert again.timeline == first.timeline
    with pytest.raises(InvalidReturnInput, match="exactly once"):
        await harness.inspect(client, return_id, {"L1": Grade.a})
    graded = [LineInspection(line_id=line_id, grade=grade) for line_id, grade in all_lines.items()]
    report = InspectionReport(inspector="dock-1", lines=graded)
    await client.record_inspection(return_id, report)
    inspected = await client.status(return_id)
    assert inspected.stage is Stage.inspecting and inspected.inspected_by == "dock-1"
    with pytest.raises(ReturnStateError, match="already inspected"):
        await harness.inspect(client, return_id, all_lines)


async def test_the_warehouse_receipt_proves_arrival_before_the_carrier_does(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await harness.ship(client, return_id)
    await harness.receive(client, return_id, {"L1": 2, "L2": 1})
    arrived = await wait_for_stage(client, return_id, Stage.delivered)
    assert (arrived.timeline[-1].actor, arrived.timeline[-1].stage) == ("dock-1", Stage.delivered)
    assert arrived.tracking_status is TrackingStatus.transit  # the carrier still says so; the dock knows better
    await harness.inspect(client, return_id, DEMO_GRADES)
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.completed
    assert [r["amount"] for r in harness.refunds(return_id)] == [SHIRTS - 599]


async def test_a_mixed_parcel_counts_wrong_items_apart_whatever_order_its_receipts_came_in(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await harness.deliver(client, return_id)
    right = ParcelReceipt(receipt_id="P-1", received_by="dock-1", lines=[ReceivedLine(line_id="L1", quantity=1)])
    wrong = ParcelReceipt(
        receipt_id="P-2", received_by="dock-1", lines=[ReceivedLine(line_id="L1", quantity=1, wrong_item=True)]
    )
    await client.record_receipt(return_id, right)
    await client.record_receipt(return_id, wrong)  # the last receipt used to decide the line's reception
    line = next(line for line in (await client.status(return_id)).lines if line.line_id == "L1")
    assert (line.reception, line.received_quantity, line.wrong_item_quantity) == (Reception.received, 1, 1)
    await harness.inspect(client, return_id, {"L1": Grade.a, "L2": Grade.missing})
    await harness.finish(client, return_id)
    assert [r["amount"] for r in harness.refunds(return_id)] == [2500 - 599]  # one shirt of ours came back


async def test_wrong_item_is_recorded_and_not_refunded(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await harness.deliver(client, return_id)
    await harness.inspect(client, return_id, {"L1": Grade.a, "L2": Grade.wrong_item})
    final = await harness.finish(client, return_id)
    lines = {line.line_id: line for line in final.lines}
    assert lines["L2"].reception is Reception.wrong_item_received and lines["L2"].disposition is None
    assert [r["amount"] for r in harness.refunds(return_id)] == [SHIRTS - 599]


async def test_late_receiving_and_late_inspection_escalate_without_failing(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await harness.deliver(client, return_id)
    await harness.skip(POLICY.deadlines.receiving_days + 1)
    unreceived = await client.status(return_id)
    assert unreceived.stage is Stage.delivered and unreceived.attention is not None
    assert "not fully received within 5 day(s)" in unreceived.attention.reason
    await harness.receive(client, return_id)
    await harness.skip(POLICY.deadlines.inspection_sla_days + 1)
    late = await client.status(return_id)
    assert late.attention is not None and "not inspected within 3 day(s)" in late.attention.reason
    await harness.inspect(client, return_id, DEMO_GRADES)
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.completed and final.attention is None


async def test_dispositions_follow_category_and_grade_with_overrides(harness: Returns) -> None:
    policy = POLICY.model_copy(
        update={
            "dispositions": DispositionRule(return_to_vendor_categories=frozenset({"apparel"}), liquidate_below=2_000)
        }
    )
    client, return_id = await harness.start(policy)
    await harness.deliver(client, return_id)
    with pytest.raises(ReturnStateError, match="no line"):
        await client.override_disposition(
            return_id, DispositionOverride(actor="ops:kim", reason="x", line_id="L9", disposition=Disposition.donate)
        )
    await client.override_disposition(
        return_id,
        DispositionOverride(actor="ops:kim", reason="charity drive", line_id="L2", disposition=Disposition.donate),
    )
    await harness.inspect(client, return_id, {"L1": Grade.c, "L2": Grade.c})
    final = await harness.finish(client, return_id)
    lines = {line.line_id: line for line in final.lines}
    assert lines["L1"].disposition is Disposition.return_to_vendor  # by rule: apparel goes back to the vendor
    assert lines["L2"].disposition is Disposition.donate  # the operator's override outlives the inspection
    assert lines["L2"].disposition_override_reason == "charity drive"
    kinds = sorted(w["kind"] for w in harness.shop("work_orders", return_id))
    assert kinds == ["donation", "vendor_rma"]


# --- Resolution ---------------------------------------------------------------------------


async def test_store_credit_gets_the_policy_bonus(harness: Returns) -> None:
    policy = POLICY.model_copy(update={"store_credit_bonus_bp": 1_000})
    client, return_id = await harness.start(policy, resolution=ResolutionKind.store_credit)
    await harness.deliver(client, return_id)
    await harness.inspect(client, return_id, DEMO_GRADES)
    final = await harness.finish(client, return_id)
    net = SHIRTS - 599
    assert final.resolution is not None and final.resolution.kind is ResolutionKind.store_credit
    assert [c["amount"] for c in harness.shop("store_credits", return_id)] == [net + net // 10]
    assert harness.refunds(return_id) == []


async def test_exchange_out_of_stock_falls_back_to_a_refund(harness: Returns) -> None:
    lines = [line.model_copy(update={"exchange_sku": f"{line.sku}-ALT"}) for line in DEMO_LINES]
    harness.sandboxes.post("shop", "/_sandbox/stock", {"TSHIRT-M-BLUE-ALT": 5, "MUG-WHITE-ALT": 0})
    policy = POLICY.model_copy(update={"exchange_out_of_stock": OutOfStockFallback.refund})
    client, return_id = await harness.start(policy, resolution=ResolutionKind.exchange, lines=lines)
    await harness.deliver(client, return_id)
    await harness.inspect(client, return_id, {"L1": Grade.a, "L2": Grade.a})
    final = await harness.finish(client, return_id)
    assert final.resolution is not None
    placed = {e.sku: e.exchange_order_id is not None for e in final.resolution.exchanges}
    assert placed == {"TSHIRT-M-BLUE-ALT": True, "MUG-WHITE-ALT": False}
    assert [r["amount"] for r in harness.refunds(return_id)] == [1200]


async def test_keep_it_refunds_without_shipping(harness: Returns) -> None:
    policy = POLICY.model_copy(update={"keep_it_below": 10_000})
    client, return_id = await harness.start(policy, method=ReturnMethod.keep_it)
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.completed and harness.labels(return_id) == []
    assert [r["amount"] for r in harness.refunds(return_id)] == [SHIRTS + 1200]


async def test_in_store_return_waits_for_the_store_receipt(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY, method=ReturnMethod.in_store)
    await wait_for_stage(client, return_id, Stage.approved)
    await harness.receive(client, return_id)
    await wait_for_stage(client, return_id, Stage.delivered)
    await harness.inspect(client, return_id, DEMO_GRADES)
    await harness.finish(client, return_id)
    assert harness.labels(return_id) == []
    assert [r["amount"] for r in harness.refunds(return_id)] == [SHIRTS]  # no label, no shipping fee


async def test_bounced_outbound_parcel_goes_straight_to_receiving(harness: Returns) -> None:
    order = (await harness.order("ORD-bounce")).model_copy(update={"delivered_at": None})
    client, return_id = await harness.start(POLICY, order=order, return_to_origin=True)
    status = await wait_for_stage(client, return_id, Stage.delivered)
    assert status.stage is Stage.delivered and harness.labels(return_id) == []
    await harness.inspect(client, return_id, {"L1": Grade.a, "L2": Grade.a})
    await harness.finish(client, return_id)
    assert [r["amount"] for r in harness.refunds(return_id)] == [SHIRTS + 1200]


async def test_instant_refund_is_reconciled_without_a_second_refund(harness: Returns) -> None:
    policy = POLICY.model_copy(update={"instant_refund": InstantRefundRule(enabled=True, max_amount=10_000)})
    client, return_id = await harness.start(policy)
    await harness.ship(client, return_id)
    await harness.until(client, return_id, lambda s: s.resolution is not None)
    instant = SHIRTS + 1200 - 599
    assert [r["amount"] for r in harness.refunds(return_id)] == [instant]
    await client.record_carrier_scan(return_id, scan(TrackingStatus.delivered))
    await wait_for_stage(client, return_id, Stage.delivered)
    await harness.inspect(client, return_id, DEMO_GRADES)  # the mug is worth nothing back
    shortfall = await harness.until(client, return_id, lambda s: s.attention is not None)
    assert "exceeds" in shortfall.attention.reason
    await client.approve(return_id, OPERATOR)
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.completed
    assert len(harness.refunds(return_id)) == 1


async def test_pending_refund_that_fails_falls_back_to_store_credit(harness: Returns) -> None:
    policy = POLICY.model_copy(update={"refund_failure_fallback": RefundFailureFallback.store_credit})
    harness.sandboxes.post("stripe", "/_sandbox/refund_outcomes", {"status": "pending", "times": 1})
    client, return_id = await harness.start(policy)
    await harness.deliver(client, return_id)
    await harness.inspect(client, return_id, DEMO_GRADES)
    await harness.until(client, return_id, lambda s: s.refund is not None)
    [refund] = harness.refunds(return_id)
    assert refund["status"] == "pending"
    harness.sandboxes.post("stripe", f"/_sandbox/refunds/{refund['id']}/transition", {"status": "failed"})
    await harness.skip(policy.deadlines.refund_settle_days + 1)  # no webhook: the poll finds it
    final = await harness.finish(client, return_id)
    assert final.resolution is not None and final.resolution.kind is ResolutionKind.store_credit
    assert final.resolution.refund is not None and final.resolution.refund.status is RefundState.failed
    assert [c["amount"] for c in harness.shop("store_credits", return_id)] == [SHIRTS - 599]
    assert len(harness.refunds(return_id)) == 1


async def test_a_refund_that_fails_after_succeeding_goes_to_an_operator(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await harness.deliver(client, return_id)
    await harness.inspect(client, return_id, DEMO_GRADES)
    done = await wait_for_stage(client, return_id, Stage.completed)
    assert done.refund is not None
    await client.record_payment_update(
        return_id,
        PaymentUpdate(refund_id=done.refund.refund_id, status=RefundState.failed, failure_reason="lost_or_stolen_card"),
    )
    failed = await harness.until(client, return_id, lambda s: s.attention is not None)
    assert "lost_or_stolen_card" in failed.attention.reason
    await client.approve(return_id, OPERATOR)  # store credit instead
    final = await harness.finish(client, return_id)
    assert final.resolution is not None and final.resolution.kind is ResolutionKind.store_credit
    assert len(harness.refunds(return_id)) == 1


# --- Failing steps and operator actions -----------------------------------------------------------


async def test_a_step_that_keeps_failing_waits_for_an_operator_retry(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await harness.deliver(client, return_id)
    harness.sandboxes.fault("stripe", method="POST", path="/v1/refunds", status=500, times=1_000)
    await harness.inspect(client, return_id, DEMO_GRADES)
    stuck = await harness.until(client, return_id, lambda s: s.attention is not None, skip=timedelta(minutes=2))
    assert stuck.stage is Stage.resolving
    assert stuck.attention.step == "refund" and stuck.attention.error_type
    assert (await harness.handle(return_id).describe()).status is WorkflowExecutionStatus.RUNNING
    harness.sandboxes.clear_faults("stripe")
    await client.retry(return_id, OPERATOR)
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.completed
    assert [r["amount"] for r in harness.refunds(return_id)] == [SHIRTS - 599]


async def test_stripe_failing_three_times_then_succeeding_refunds_once(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await harness.deliver(client, return_id)
    harness.sandboxes.fault("stripe", method="POST", path="/v1/refunds", status=500, times=3)
    await harness.inspect(client, return_id, DEMO_GRADES)
    retrying = await harness.until(client, return_id, lambda s: s.retrying is not None)
    assert retrying.attention is None  # not an operator's business yet, but visible from the first failure
    assert (retrying.retrying.activity, retrying.retrying.attempt >= 2) == ("refund_what_is_left", True)
    assert retrying.retrying.last_error and "stripe" in retrying.retrying.last_error.lower()
    done = await harness.until(client, return_id, lambda s: s.stage is Stage.completed, skip=timedelta(seconds=30))
    assert done.attention is None
    assert [r["amount"] for r in harness.refunds(return_id)] == [SHIRTS - 599]


async def test_charge_already_refunded_goes_to_an_operator_without_retry_storm(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await harness.deliver(client, return_id)
    # Once only: had the activity retried, its second attempt would have succeeded.
    harness.sandboxes.fault("stripe", method="POST", path="/v1/refunds", status=400, body=ALREADY_REFUNDED, times=1)
    await harness.inspect(client, return_id, DEMO_GRADES)
    stuck = await harness.until(client, return_id, lambda s: s.attention is not None)
    assert stuck.attention.error_type == "stripe.charge_already_refunded"
    assert "already been refunded" in (stuck.attention.message or "")
    assert stuck.stage is Stage.resolving and harness.refunds(return_id) == []
    await client.retry(return_id, OPERATOR)  # the operator sorted it out with Stripe
    await harness.until(client, return_id, lambda s: s.stage is Stage.completed)
    assert len(harness.refunds(return_id)) == 1


async def test_a_payment_refunded_elsewhere_is_never_refunded_again(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY, paid=SHIRTS)
    # the shop refunded the whole payment by hand before the return resolved
    payment = harness.requests[return_id].payment_intent_id
    stripe.StripeClient(
        harness.settings.stripe_key, base_addresses={"api": harness.settings.stripe_base}
    ).v1.refunds.create({"payment_intent": payment})
    await harness.deliver(client, return_id)
    await harness.inspect(client, return_id, DEMO_GRADES)
    waiting = await harness.until(client, return_id, lambda s: s.attention is not None)
    assert waiting.awaiting_decision is Decision.refund_failed
    assert "nothing is left to refund on the order's payments" in waiting.attention.reason
    assert waiting.stage is Stage.resolving and harness.refunds(return_id) == []
    await client.approve(return_id, OPERATOR)  # store credit instead
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.completed and harness.refunds(return_id) == []
    assert [c["amount"] for c in harness.shop("store_credits", return_id)] == [SHIRTS - 599]


async def test_operator_actions_the_state_refuses_change_nothing(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    await wait_for_stage(client, return_id, Stage.label_issued)
    before = await client.status(return_id)
    with pytest.raises(ReturnStateError, match="approval"):
        await client.approve(return_id, OPERATOR)
    with pytest.raises(ReturnStateError, match="failed step"):
        await client.retry(return_id, OPERATOR)
    with pytest.raises(ReturnStateError, match="no running deadline 'review'"):
        await client.extend_deadline(
            return_id, DeadlineExtension(actor="ops:kim", reason="x", deadline=Deadline.review, days=1)
        )
    with pytest.raises(ValidationError, match="ship_by"):  # not a deadline at all: refused before it is sent
        DeadlineExtension(actor="ops:kim", reason="x", deadline="nope", days=1)
    after = await client.status(return_id)
    assert after.timeline == before.timeline


async def test_the_policy_is_pinned_when_the_return_starts(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY)
    newer = POLICY.model_copy(update={"version": "test-2", "return_shipping_fee": 0})
    assert harness.client(newer).policy.version == "test-2"
    await harness.deliver(client, return_id)
    await harness.inspect(client, return_id, DEMO_GRADES)
    final = await harness.finish(client, return_id)
    assert final.policy_version == "test-1"
    assert [r["amount"] for r in harness.refunds(return_id)] == [SHIRTS - 599]


def test_deadlines_are_days() -> None:
    assert Deadlines().duration(Deadline.ship_by) == timedelta(days=14)


# --- Money and trust: the order decides who is paid and how much -----------------------------------

GRADED = ReturnPolicy(
    version="test-graded",
    grade_outcomes={Grade.a: GradeOutcome(), Grade.b: GradeOutcome(fee_bp=1_000), Grade.d: GradeOutcome(refund_bp=0)},
    return_shipping_fee=599,
    refund_failure_fallback=RefundFailureFallback.store_credit,
)
EVERYTHING_BACK = {"L1": Grade.a, "L2": Grade.a}  # 2 x 25.00 + 12.00 - 5.99 = 56.01


async def _paid_order(harness: Returns, *payments: int) -> OrderFacts:
    """The demo order, paid with several payments (a split tender), in the order listed."""
    order = await harness.order(f"ORD-{uuid.uuid4().hex[:10]}")
    paid = [
        OrderPayment(payment_intent_id=await charge_shopper(harness.settings, amount), amount=amount)
        for amount in payments
    ]
    return order.model_copy(update={"payments": paid})


async def test_a_split_tender_order_is_refunded_to_its_payments_in_order_never_above_what_each_paid(
    harness: Returns,
) -> None:
    order = await _paid_order(harness, 5_000, 2_000)
    client, return_id = await harness.start(GRADED, order=order)
    await harness.deliver(client, return_id)
    await harness.inspect(client, return_id, EVERYTHING_BACK)
    final = await harness.finish(client, return_id)
    refunds = {r["payment_intent"]: r["amount"] for r in harness.refunds(return_id)}
    assert refunds == {order.payments[0].payment_intent_id: 5_000, order.payments[1].payment_intent_id: 601}
    assert final.resolution.amount == 5_601 and [r.amount for r in final.resolution.refunds] == [5_000, 601]


async def test_two_returns_of_an_order_never_refund_more_than_its_payment_has_left(harness: Returns) -> None:
    # The shopper paid 50.00 by card and the rest with a gift card the shop does not refund to.
    order = await _paid_order(harness, 5_000)
    first, first_id = await harness.start(GRADED, order=order, lines=DEMO_LINES[:1])
    await harness.deliver(first, first_id)
    await harness.inspect(first, first_id, {"L1": Grade.a})
    await harness.finish(first, first_id)
    second, second_id = await harness.start(GRADED, order=order, lines=DEMO_LINES[1:])
    await harness.deliver(second, second_id)
    await harness.inspect(second, second_id, {"L2": Grade.a})
    final = await harness.finish(second, second_id)
    assert [r["amount"] for r in harness.refunds(first_id)] == [SHIRTS - 599]
    assert [r["amount"] for r in harness.refunds(second_id)] == [599]  # what the payment had left
    assert [c["amount"] for c in harness.shop("store_credits", second_id)] == [1_200 - 599 - 599]  # the rest
    assert final.stage is Stage.completed and final.resolution.amount == 601


async def test_an_operator_pays_a_refund_stripe_refuses_for_good_in_store_credit(harness: Returns) -> None:
    client, return_id = await harness.start(GRADED)
    await harness.deliver(client, return_id)
    harness.sandboxes.fault("stripe", method="POST", path="/v1/refunds", status=400, times=1, body=ALREADY_REFUNDED)
    await harness.inspect(client, return_id, EVERYTHING_BACK)
    stuck = await harness.until(client, return_id, lambda s: s.attention is not None)
    assert stuck.attention.error_type == "stripe.charge_already_refunded"
    await client.resolve_otherwise(return_id, OtherWay(actor="ops:kim", reason="card closed", way=WayOut.store_credit))
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.completed and harness.refunds(return_id) == []
    assert [c["amount"] for c in harness.shop("store_credits", return_id)] == [5_601]
    assert "refund abandoned for store_credit: card closed" in [e.detail for e in final.timeline]


async def test_an_operator_closes_a_return_stuck_on_a_failed_step_unresolved(harness: Returns) -> None:
    harness.sandboxes.fault("shippo", method="POST", path="/shipments", status=400)  # the address is refused
    client, return_id = await harness.start(GRADED)
    stuck = await harness.until(client, return_id, lambda s: s.attention is not None)
    assert stuck.attention.step == "buy label"
    with pytest.raises(ReturnStateError, match="offers: close_unresolved"):
        await client.resolve_otherwise(return_id, OtherWay(actor="ops:kim", reason="x", way=WayOut.store_credit))
    await client.resolve_otherwise(
        return_id, OtherWay(actor="ops:kim", reason="no such street", way=WayOut.close_unresolved)
    )
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.failed_needs_attention and final.attention is None
    assert final.timeline[-1].detail == "closed unresolved: no such street"
    assert [r["released"] for r in harness.shop("reservations", return_id)] == [True]
    assert "closed" in [n["kind"] for n in harness.shop("notifications", return_id)]


async def test_an_instant_refund_waits_for_a_scan_that_proves_the_parcel_left(harness: Returns) -> None:
    policy = GRADED.model_copy(update={"instant_refund": InstantRefundRule(enabled=True, max_amount=10_000)})
    client, return_id = await harness.start(policy)
    await wait_for_stage(client, return_id, Stage.label_issued)
    for status in (TrackingStatus.unknown, TrackingStatus.failure, TrackingStatus.returned):
        await client.record_carrier_scan(return_id, scan(status))
    waiting = await harness.until(client, return_id, lambda s: s.tracking_status is TrackingStatus.returned)
    assert harness.refunds(return_id) == [] and "ship_by" in waiting.deadlines
    await client.record_carrier_scan(return_id, scan(TrackingStatus.transit))
    await harness.until(client, return_id, lambda s: s.resolution is not None)
    assert [r["amount"] for r in harness.refunds(return_id)] == [5_601]


async def test_a_pending_instant_refund_is_followed_and_the_return_waits_until_the_shopper_is_paid(
    harness: Returns,
) -> None:
    policy = GRADED.model_copy(update={"instant_refund": InstantRefundRule(enabled=True, max_amount=10_000)})
    client, return_id = await harness.start(policy)
    payment = harness.requests[return_id].payment_intent_id
    harness.sandboxes.post("stripe", "/_sandbox/refund_outcomes", {"status": "pending", "payment_intent": payment})
    await harness.ship(client, return_id)
    instant = await harness.until(client, return_id, lambda s: s.resolution is not None)
    assert instant.resolution.instant_refund.status is RefundState.pending
    await client.record_carrier_scan(return_id, scan(TrackingStatus.delivered))
    await harness.inspect(client, return_id, EVERYTHING_BACK)
    await harness.skip(1)
    unpaid = await client.status(return_id)
    assert unpaid.stage is Stage.resolving  # not completed while the shopper is unpaid
    refund_id = instant.resolution.instant_refund.refund_id
    harness.sandboxes.post("stripe", f"/_sandbox/refunds/{refund_id}/transition", {"status": "succeeded"})
    await client.record_payment_update(return_id, PaymentUpdate(refund_id=refund_id, status=RefundState.succeeded))
    final = await harness.finish(client, return_id)
    assert final.stage is Stage.completed and len(harness.refunds(return_id)) == 1


async def test_a_cancel_while_money_moves_is_refused_and_nothing_is_compensated(harness: Returns) -> None:
    policy = GRADED.model_copy(update={"instant_refund": InstantRefundRule(enabled=True, max_amount=10_000)})
    client, return_id = await harness.start(policy)
    harness.sandboxes.fault("stripe", method="POST", path="/v1/refunds", delay_seconds=3, times=1)
    await harness.ship(client, return_id)
    await harness.until_activity(return_id, "refund_what_is_left")
    cancel = Cancellation(actor="ops:kim", reason="changed my mind", requested_by="operator")
    with pytest.raises(ReturnStateError, match="money is being returned right now"):
        await client.cancel(return_id, cancel)
    paid = await harness.until(client, return_id, lambda s: s.resolution is not None)
    with pytest.raises(ReturnStateError, match="being resolved"):
        await client.cancel(return_id, cancel)
    assert paid.stage is Stage.in_transit and [r["amount"] for r in harness.refunds(return_id)] == [5_601]
    assert "cancellation requested" not in " ".join(e.detail for e in paid.timeline)
