"""ReturnWorkflow: one product return, from request to resolution, as one durable workflow.

Contract (models in workflows/models.py)
- id: `workflow_id_for(return_id)`; starting the same return twice reaches the same workflow.
- input: `StartReturn` (the shop's request + the policy pinned at start); result: `ReturnStatus`.
- signals: `carrier_scan`, `parcel_received`, `inspection_recorded`, `payment_update`.
- queries: `status`, `timeline`, `request`.
- updates (each has a validator that refuses, before anything is written, a message the current
  state can't take): the warehouse's `record_receipt`, `record_inspection` (the two signals with
  their checks), and the operator's and shopper's `approve`, `reject`, `cancel`, `retry`,
  `override_disposition`, `extend_deadline`.
- search attributes: see workflows/search_attributes.py.

Process
  load the order -> eligibility (declined | needs_review -> approve/reject) -> reserve quantities
  -> by method: keep_it resolves at once; mail_label/drop_off buy a label and wait for the first
     scan (ship-by deadline -> void, expired), then for delivery (stalls flagged; lost parcels per
     policy); in_store waits for the store's receipt; a bounced outbound parcel skips to receiving
  -> receiving and inspection (SLA flagged) -> one disposition per line
  -> resolution: refund (instant refunds reconciled; pending and failed refunds followed),
     store credit, or exchange -> completed.
A step that keeps failing waits in `needs_attention` for an operator's `retry`; it never fails
the workflow. `cancel` compensates what was done (label voided, restocks reversed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.rules as rules  # a plain `from workflows import rules` re-runs rules.py in every sandboxed run
    from workflows.models import (
        CLOSED_STAGES,
        ActivityName,
        Attention,
        Cancellation,
        CarrierScan,
        DeadlineExtension,
        DeclineReason,
        Disposition,
        DispositionOverride,
        DispositionReceipt,
        DispositionRequest,
        ExchangeReceipt,
        ExchangeRequest,
        InspectionReport,
        Label,
        LabelRequest,
        LabelVoid,
        LabelVoidReceipt,
        LineStatus,
        NotificationKind,
        OperatorAction,
        OrderFacts,
        ParcelReceipt,
        PaymentUpdate,
        QuantityReservation,
        Reception,
        RefundReceipt,
        RefundRequest,
        RefundState,
        RequestedQuantity,
        ReservationRelease,
        ReservationRequest,
        Resolution,
        ResolutionKind,
        RestockReceipt,
        RestockReversal,
        ReturnMethod,
        ReturnRequest,
        ReturnStatus,
        ShopperNotification,
        Stage,
        StartReturn,
        StoreCreditReceipt,
        StoreCreditRequest,
        TimelineEntry,
        TrackingRegistration,
        TrackingStatus,
        disposition_activity,
    )
    from workflows.policy import LostParcelAction, OutOfStockFallback, RefundFailureFallback
    from workflows.search_attributes import NEEDS_ATTENTION, RETURN_STAGE, TRACKING_NUMBER

WORKFLOW_ID_PREFIX = "return-"
T = TypeVar("T")

# Vendors have outages: retry with backoff for a few minutes, then hand the step to an
# operator (needs_attention) instead of failing the return or hammering the vendor.
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=10,
)
STEP_TIMEOUT = timedelta(seconds=120)  # a label purchase is up to three Shippo calls
# Activities heartbeat every few seconds: a worker that died is noticed after this long.
STEP_HEARTBEAT = timedelta(seconds=15)
_REFUND_SETTLE_POLLS = 10  # then a pending refund becomes an operator case
_EARLY_REFUND_REPORTS = 20  # reports about a refund the return has not heard of yet, kept until it has

# Operator decisions a return can wait for, and what `approve` / `reject` mean in each.
_REVIEW = "review"  # approve: go ahead; reject: decline
_LOST_PARCEL = "lost_parcel"  # approve: resolve anyway; reject: decline
_INSTANT_REFUND_SHORTFALL = "instant_refund_shortfall"  # approve: accept the loss
_REFUND_FAILED = "refund_failed"  # approve: store credit instead; reject: close unresolved

# Since this change a return's progress follows from the set of events it has seen (scans,
# receipts, refund updates), not from the order a batch of them was applied in. Returns started
# before it keep the order-sensitive rules they started with, so their histories replay.
PROGRESS_FROM_EVIDENCE = "progress-from-evidence"


def workflow_id_for(return_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{return_id}"


def idempotency_key(return_id: str, step: str) -> str:
    """One key per return and money-moving step, stable across retries, crashes and replays."""
    return f"return:{return_id}:{step}"


# The error types of a validator's refusal; the doors turn them into their own errors.
INVALID_STATE = "InvalidState"  # the return's state can't take this message now
INVALID_INPUT = "InvalidInput"  # the message itself is wrong; `details[0]` names the field


def _invalid_state(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID_STATE, non_retryable=True)


def _invalid_input(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, field, type=INVALID_INPUT, non_retryable=True)


def _receipt_key(receipt: ParcelReceipt) -> str:
    """A parcel's receipt counts once, however often the handheld sends it."""
    return f"receipt:{receipt.receipt_id}"


class _Cancelled(Exception):
    """Raised inside the workflow when a cancellation was accepted; `run` compensates."""


@workflow.defn
class ReturnWorkflow:
    @workflow.init
    def __init__(self, start: StartReturn) -> None:
        request = start.request
        self._request = request
        self._policy = start.policy
        self._stage = Stage.requested
        self._lines = {
            line.line_id: LineStatus(
                line_id=line.line_id,
                sku=line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
                reason=line.reason,
                exchange_sku=line.exchange_sku,
            )
            for line in request.lines
        }
        self._order: OrderFacts | None = None
        self._label: Label | None = None
        self._label_voided = False
        self._scans: list[rules.SeenScan] = []
        self._last_scan_applied: TrackingStatus | None = None  # what returns started before the patch decide by
        self._early_refund_reports: list[tuple[PaymentUpdate, str]] = []
        self._seen_events: set[str] = set()
        self._last_progress_at: datetime | None = None
        self._receipts_recorded = False
        self._inspected_by: str | None = None
        self._resolution: Resolution | None = None
        self._attention: Attention | None = None
        self._deadlines: dict[str, datetime] = {}
        self._deadline_version = 0
        self._awaiting_decision: str | None = None
        self._decision: tuple[str, OperatorAction] | None = None
        self._retry_requested = False
        self._cancellation: Cancellation | None = None
        self._compensating = False
        self._timeline: list[TimelineEntry] = []
        self._progress_from_evidence = workflow.patched(PROGRESS_FROM_EVIDENCE)

    @workflow.run
    async def run(self, start: StartReturn) -> ReturnStatus:
        self._note("shop", f"return requested for order {self._request.order_id}, {len(self._lines)} line(s)")
        try:
            await self._process()
        except _Cancelled:
            await self._compensate()
        return self.status()

    async def _process(self) -> None:
        if not await self._decide_eligibility():
            return
        request = self._request
        if request.return_to_origin:
            self._move_to(Stage.delivered, "carrier", "outbound parcel came back to the warehouse undelivered")
        elif request.method is ReturnMethod.keep_it:
            await self._resolve(rules.settle_unseen(self._open_lines(), self._policy, shipped=False), "keep it")
            return self._finish(Stage.completed, "system", "resolved without shipping (keep it)")
        elif request.method is ReturnMethod.in_store:
            self._set_deadline("ship_by")
            if not await self._wait(lambda: self._receipts_recorded, "ship_by"):
                return await self._expire()
            if not rules.is_at_or_past(self._stage, Stage.delivered):  # returns started before the patch
                self._move_to(Stage.delivered, "store", "returned in store")
        else:
            await self._issue_label()
            if not await self._wait(self._departed, "ship_by"):
                return await self._expire()
            await self._maybe_refund_instantly()
            if not await self._await_delivery():
                return await self._settle_lost_parcel()
        await self._await_inspection()
        await self._dispose_lines()
        await self._resolve(self._settlement(), "inspected lines")
        self._finish(Stage.completed, "system", "return resolved")
        await self._watch_refund_after_completion()

    # --- Messages ---------------------------------------------------------------------

    @workflow.query
    def status(self) -> ReturnStatus:
        return ReturnStatus(
            return_id=self._request.return_id,
            order_id=self._request.order_id,
            customer_id=self._request.customer_id,
            stage=self._stage,
            method=self._request.method,
            currency=self._request.currency,
            lines=list(self._lines.values()),
            label=self._label,
            label_voided=self._label_voided,
            tracking_status=rules.carrier_status(self._scans),
            inspected_by=self._inspected_by,
            resolution=self._resolution,
            attention=self._attention,
            deadlines=dict(self._deadlines),
            policy_version=self._policy.version,
            timeline=list(self._timeline),
        )

    @workflow.query
    def timeline(self) -> list[TimelineEntry]:
        return list(self._timeline)

    @workflow.query
    def request(self) -> ReturnRequest:
        """The request this return was started with (doors compare a repeated start with it)."""
        return self._request

    @workflow.signal
    def carrier_scan(self, scan: CarrierScan) -> None:
        if not self._first_time(f"scan:{scan.event_id}"):
            return
        if self._stage in CLOSED_STAGES and not self._progress_from_evidence:
            return
        self._scans.append(rules.SeenScan(occurred_at=scan.occurred_at, status=scan.status))
        self._last_scan_applied = scan.status
        detail = f"carrier scan {scan.status.value}" + (f" at {scan.location}" if scan.location else "")
        next_stage = rules.stage_after_scan(self._stage, scan.status)
        if next_stage is self._stage:
            self._note("carrier", detail)
        else:
            self._last_progress_at = workflow.now()
            self._move_to(next_stage, "carrier", detail)

    @workflow.signal
    def parcel_received(self, receipt: ParcelReceipt) -> None:
        if not self._first_time(_receipt_key(receipt)) or self._stage in CLOSED_STAGES:
            return
        problem = self._receipt_problem(receipt)
        if problem:
            return self._note(receipt.received_by, f"receipt {receipt.receipt_id} ignored: {problem.message}")
        for received in receipt.lines:
            line = self._lines[received.line_id]
            if self._progress_from_evidence:
                update = rules.reception_after_receipt(line, received.quantity, wrong_item=received.wrong_item)
            else:  # the last receipt decided the line's reception
                update = {
                    "received_quantity": line.received_quantity + received.quantity,
                    "reception": Reception.wrong_item_received if received.wrong_item else Reception.received,
                }
            self._lines[line.line_id] = line.model_copy(update=update)
        self._receipts_recorded = True
        counts = ", ".join(f"{line.line_id}x{line.quantity}" for line in receipt.lines)
        detail = f"parcel {receipt.receipt_id} received: {counts}"
        if self._progress_from_evidence and not rules.is_at_or_past(self._stage, Stage.delivered):
            # The dock has the parcel, whatever the carrier has said so far.
            self._last_progress_at = workflow.now()
            return self._move_to(Stage.delivered, receipt.received_by, detail)
        self._note(receipt.received_by, detail)

    @workflow.signal
    def inspection_recorded(self, report: InspectionReport) -> None:
        problem = self._inspection_problem(report)
        if problem:
            return self._note(report.inspector, f"inspection ignored: {problem.message}")
        for inspected in report.lines:
            line = self._lines[inspected.line_id]
            if inspected.disposition_override:
                disposition, override_reason = inspected.disposition_override, inspected.override_reason
            elif line.disposition_override_reason:  # an operator decided before the inspection
                disposition, override_reason = line.disposition, line.disposition_override_reason
            else:
                disposition = rules.disposition_for(inspected.grade, line.category, line.unit_price, self._policy)
                override_reason = None
            self._lines[line.line_id] = line.model_copy(
                update={
                    "grade": inspected.grade,
                    "disposition": disposition,
                    "disposition_override_reason": override_reason,
                    "reception": rules.reception_after_inspection(line, inspected.grade, self._receipts_recorded),
                }
            )
        self._inspected_by = report.inspector  # an inspection, like a receipt, proves the parcel arrived
        grades = ", ".join(f"{line.line_id}={line.grade.value}" for line in report.lines)
        self._move_to(Stage.inspecting, report.inspector, f"inspected: {grades}")

    # The warehouse's doors: the signals above, as updates whose validators refuse bad input
    # before anything is written, so the handheld hears why at once (the signals stay for
    # tools that only signal, and for the histories of running returns).
    # They answer nothing: an update's result is kept in the history, and the status is big.
    @workflow.update
    def record_receipt(self, receipt: ParcelReceipt) -> None:
        self.parcel_received(receipt)

    @record_receipt.validator
    def _validate_receipt(self, receipt: ParcelReceipt) -> None:
        self._require(self._stage not in CLOSED_STAGES, "the return is closed")
        if _receipt_key(receipt) not in self._seen_events:  # a redelivery is accepted, counted once
            self._refuse(self._receipt_problem(receipt))

    @workflow.update
    def record_inspection(self, report: InspectionReport) -> None:
        self.inspection_recorded(report)

    @record_inspection.validator
    def _validate_inspection(self, report: InspectionReport) -> None:
        self._refuse(self._inspection_problem(report))

    @workflow.signal
    def payment_update(self, update: PaymentUpdate) -> None:
        self._apply_refund_status(update, "payments")

    @workflow.update
    def approve(self, action: OperatorAction) -> ReturnStatus:
        return self._decide("approve", action)

    @approve.validator
    def _validate_approve(self, action: OperatorAction) -> None:
        self._require(self._awaiting_decision is not None, "nothing is waiting for an approval")

    @workflow.update
    def reject(self, action: OperatorAction) -> ReturnStatus:
        return self._decide("reject", action)

    @reject.validator
    def _validate_reject(self, action: OperatorAction) -> None:
        self._require(
            self._awaiting_decision in (_REVIEW, _LOST_PARCEL, _REFUND_FAILED), "nothing is waiting for a rejection"
        )

    @workflow.update
    def cancel(self, action: Cancellation) -> ReturnStatus:
        self._cancellation = action
        self._note(action.actor, f"cancellation requested: {action.reason}")
        return self.status()

    @cancel.validator
    def _validate_cancel(self, action: Cancellation) -> None:
        self._require(self._cancellation is None, "a cancellation is already under way")
        self._require(self._stage not in CLOSED_STAGES, "the return is closed")
        self._require(
            not rules.is_at_or_past(self._stage, Stage.resolving) and self._resolution is None,
            "money was already returned; it can't be cancelled",
        )
        if action.requested_by == "shopper":
            self._require(
                not rules.is_at_or_past(self._stage, Stage.in_transit), "the parcel has shipped; ask the shop"
            )

    @workflow.update
    def retry(self, action: OperatorAction) -> ReturnStatus:
        self._retry_requested = True
        self._note(action.actor, f"retry of {self._attention.step if self._attention else 'step'}: {action.reason}")
        return self.status()

    @retry.validator
    def _validate_retry(self, action: OperatorAction) -> None:
        self._require(self._attention is not None and self._attention.step is not None, "no failed step to retry")

    @workflow.update
    def override_disposition(self, override: DispositionOverride) -> ReturnStatus:
        line = self._lines[override.line_id]
        self._lines[line.line_id] = line.model_copy(
            update={"disposition": override.disposition, "disposition_override_reason": override.reason}
        )
        self._note(override.actor, f"{line.line_id} disposition set to {override.disposition.value}: {override.reason}")
        return self.status()

    @override_disposition.validator
    def _validate_override(self, override: DispositionOverride) -> None:
        line = self._lines.get(override.line_id)
        self._require(line is not None, f"no line {override.line_id}")
        self._require(self._stage not in CLOSED_STAGES, "the return is closed")
        self._require(line is not None and line.declined is None, "the line was declined")
        self._require(line is not None and line.disposition_work_id is None, "that line's disposition already ran")

    @workflow.update
    def extend_deadline(self, extension: DeadlineExtension) -> ReturnStatus:
        self._deadlines[extension.deadline] += timedelta(days=extension.days)
        self._deadline_version += 1
        self._note(
            extension.actor, f"{extension.deadline} deadline extended by {extension.days} day(s): {extension.reason}"
        )
        return self.status()

    @extend_deadline.validator
    def _validate_extend(self, extension: DeadlineExtension) -> None:
        self._require(extension.deadline in self._deadlines, f"no running deadline {extension.deadline!r}")
        self._require(self._stage not in CLOSED_STAGES, "the return is closed")

    # --- Steps --------------------------------------------------------------------------

    async def _decide_eligibility(self) -> bool:
        self._order = await self._step("load order", ActivityName.load_order, self._request.order_id, OrderFacts)
        assessment = rules.assess(self._request, self._order, self._policy, workflow.now())
        for line_id, category in assessment.categories.items():
            if line_id in self._lines:
                self._lines[line_id] = self._lines[line_id].model_copy(update={"category": category})
        for line_id, reason in assessment.declined.items():
            self._decline_line(line_id, reason)
        if not self._open_lines():
            await self._decline("no line can be returned")
            return False
        if assessment.review_reason and not await self._passes_review(assessment.review_reason):
            return False
        if not await self._reserve_quantities():
            return False
        self._move_to(Stage.approved, "system", f"{len(self._open_lines())} line(s) approved")
        return True

    async def _passes_review(self, reason: str) -> bool:
        self._move_to(Stage.needs_review, "system", f"manual review: {reason}")
        self._set_deadline("review")
        if await self._await_decision(_REVIEW, "review", reason) == "approve":
            return True
        for line in self._open_lines():
            self._decline_line(line.line_id, DeclineReason.rejected_by_operator)
        await self._decline("rejected in review")
        return False

    async def _reserve_quantities(self) -> bool:
        """Never more than was bought minus what the order's other returns took."""
        request = self._request
        reservation = await self._step(
            "reserve quantities",
            ActivityName.reserve_quantities,
            ReservationRequest(
                order_id=request.order_id,
                return_id=request.return_id,
                lines=[RequestedQuantity(line_id=line.line_id, quantity=line.quantity) for line in self._open_lines()],
            ),
            QuantityReservation,
        )
        for reserved in reservation.lines:
            if reserved.reserved == 0:
                self._decline_line(reserved.line_id, DeclineReason.quantity_exceeded)
            elif reserved.reserved < reserved.requested:
                self._lines[reserved.line_id] = self._lines[reserved.line_id].model_copy(
                    update={"quantity": reserved.reserved}
                )
                self._note("system", f"{reserved.line_id}: only {reserved.reserved} unit(s) left to return")
        if not self._open_lines():
            await self._decline("earlier returns already took these quantities")
            return False
        return True

    async def _issue_label(self) -> None:
        request = self._request
        self._label = await self._step(
            "buy label",
            ActivityName.buy_return_label,
            LabelRequest(
                return_id=request.return_id,
                customer_address=request.customer_address,
                warehouse_address=request.warehouse_address,
                parcel=request.parcel,
                qr_code=request.qr_code or request.method is ReturnMethod.drop_off,
            ),
            Label,
        )
        await self._step(
            "register tracking",
            ActivityName.register_tracking,
            TrackingRegistration(
                return_id=request.return_id, carrier=self._label.carrier, tracking_number=self._label.tracking_number
            ),
            type(None),
        )
        workflow.upsert_search_attributes([TRACKING_NUMBER.value_set(self._label.tracking_number)])
        self._move_to(Stage.label_issued, "system", f"label bought, tracking {self._label.tracking_number}")
        self._set_deadline("ship_by")
        await self._notify(NotificationKind.label_ready, self._label.label_url or self._label.qr_code_url or "")

    def _departed(self) -> bool:
        """The parcel left the shopper: a departure scan, or the warehouse already has it."""
        if not self._progress_from_evidence:  # the last scan applied decided
            return self._last_scan_applied not in (None, TrackingStatus.pre_transit)
        return rules.has_departed(self._scans) or rules.is_at_or_past(self._stage, Stage.delivered)

    async def _await_delivery(self) -> bool:
        """Waits until delivered (True) or the carrier gives up (False); flags stalls."""
        self._clear_deadline("ship_by")

        def settled() -> bool:
            return rules.is_at_or_past(self._stage, Stage.delivered) or self._parcel_lost()

        while not settled():
            mark = self._last_progress_at

            def moved(mark: datetime | None = mark) -> bool:
                return settled() or self._last_progress_at != mark

            self._set_deadline("transit_stall")
            if not await self._wait(moved, "transit_stall"):
                days = self._policy.deadlines.transit_stall_days
                self._flag(f"no carrier progress for {days:g} day(s)")
                await self._wait(moved)
                self._unflag()
        self._clear_deadline("transit_stall")
        return not self._parcel_lost() or rules.is_at_or_past(self._stage, Stage.delivered)

    def _parcel_lost(self) -> bool:
        status = rules.carrier_status(self._scans) if self._progress_from_evidence else self._last_scan_applied
        return status is not None and rules.is_lost_scan(status)

    async def _settle_lost_parcel(self) -> None:
        for line in self._open_lines():
            self._lines[line.line_id] = line.model_copy(update={"reception": Reception.lost_in_transit})
        if self._policy.lost_parcel is LostParcelAction.operator:
            reported = rules.carrier_status(self._scans) if self._progress_from_evidence else self._last_scan_applied
            decision = await self._await_decision(_LOST_PARCEL, None, f"carrier reported {reported.value}")
            if decision == "reject":
                return await self._decline("parcel lost; operator declined to resolve")
        await self._resolve(rules.settle_unseen(self._open_lines(), self._policy, shipped=False), "lost parcel")
        self._finish(Stage.completed, "system", "resolved although the parcel was lost")

    async def _await_inspection(self) -> None:
        self._set_deadline("inspection_sla")
        if not await self._wait(lambda: self._inspected_by is not None, "inspection_sla"):
            days = self._policy.deadlines.inspection_sla_days
            self._flag(f"not inspected within {days:g} day(s) of arrival")
            await self._wait(lambda: self._inspected_by is not None)
            self._unflag()
        self._clear_deadline("inspection_sla")

    async def _dispose_lines(self) -> None:
        """Runs each line's disposition once; an override before it ran is honoured."""
        for line in self._open_lines():
            if line.disposition is None:
                continue
            disposition = line.disposition
            request = DispositionRequest(
                return_id=self._request.return_id,
                line_id=line.line_id,
                sku=line.sku,
                quantity=rules.units_back(line, self._receipts_recorded),
                disposition=disposition,
            )
            if request.quantity == 0 and self._progress_from_evidence:
                self._note("warehouse", f"{line.line_id}: no unit came back, nothing to {disposition.value}")
                continue
            if disposition is Disposition.restock:
                receipt = await self._step(
                    f"restock {line.line_id}", ActivityName.restock_line, request, RestockReceipt
                )
                work_id = receipt.restock_id
            else:
                work = await self._step(
                    f"{disposition.value} {line.line_id}",
                    disposition_activity(disposition),
                    request,
                    DispositionReceipt,
                )
                work_id = work.work_order_id
            self._lines[line.line_id] = self._lines[line.line_id].model_copy(update={"disposition_work_id": work_id})
            self._note("warehouse", f"{line.line_id}: {disposition.value} x{request.quantity} ({work_id})")

    def _settlement(self) -> rules.Settlement:
        shipped = self._request.method in (ReturnMethod.mail_label, ReturnMethod.drop_off)
        return rules.settle(
            self._open_lines(),
            self._policy,
            shipped=shipped and not self._request.return_to_origin,
            receipts_recorded=self._receipts_recorded,
        )

    # --- Resolution -----------------------------------------------------------------------

    async def _maybe_refund_instantly(self) -> None:
        request, order = self._request, self._order
        settlement = rules.settle_unseen(self._open_lines(), self._policy, shipped=True)
        if request.resolution is not ResolutionKind.refund or order is None or not settlement.net:
            return
        if not rules.qualifies_for_instant_refund(request, settlement.net, order.customer_return_count, self._policy):
            return
        refund = await self._refund(settlement.net, "refund")
        self._resolution = Resolution(
            kind=ResolutionKind.refund, amount=refund.amount, fees=settlement.fees, instant_refund=refund, refund=refund
        )
        self._note("payments", f"instant refund on first scan: {refund.amount} {request.currency}")

    async def _resolve(self, settlement: rules.Settlement, basis: str) -> None:
        self._move_to(Stage.resolving, "system", f"resolving {basis}: {settlement.net} {self._request.currency} owed")
        if self._resolution is not None and self._resolution.instant_refund is not None:
            return await self._reconcile_instant_refund(settlement)
        kind = self._request.resolution
        if settlement.net == 0 and kind is not ResolutionKind.exchange:
            self._resolution = Resolution(kind=kind, amount=0, fees=settlement.fees)
            return self._note("system", "nothing owed: no line was accepted")
        if kind is ResolutionKind.exchange:
            await self._exchange()
        elif kind is ResolutionKind.store_credit:
            await self._issue_store_credit(settlement.net, settlement.fees)
        else:
            refund = await self._refund(settlement.net, "refund")
            self._resolution = Resolution(kind=kind, amount=settlement.net, fees=settlement.fees, refund=refund)
            await self._follow_refund()

    async def _reconcile_instant_refund(self, settlement: rules.Settlement) -> None:
        """No second refund after an instant one; a shortfall becomes an operator case."""
        paid = self._resolution.instant_refund.amount
        if settlement.net >= paid:
            return self._note("payments", f"instant refund of {paid} matches the inspection")
        shortfall = paid - settlement.net
        await self._await_decision(
            _INSTANT_REFUND_SHORTFALL, None, f"instant refund exceeds the inspected value by {shortfall}"
        )
        self._note("payments", f"shortfall of {shortfall} accepted")

    async def _refund(self, amount: int, step: str) -> RefundReceipt:
        request = self._request
        refund = await self._step(
            "refund",
            ActivityName.refund_payment,
            RefundRequest(
                return_id=request.return_id,
                order_id=request.order_id,
                payment_intent_id=request.payment_intent_id,
                amount=amount,
                currency=request.currency,
                idempotency_key=idempotency_key(request.return_id, f"{step}:1"),
            ),
            RefundReceipt,
        )
        self._note(
            "payments", f"refund {refund.refund_id} of {refund.amount} {request.currency}: {refund.status.value}"
        )
        for update, actor in self._early_refund_reports if self._progress_from_evidence else ():
            if update.refund_id == refund.refund_id:
                refund = self._with_report(refund, update, actor)
        return refund

    async def _follow_refund(self) -> None:
        """Waits for a pending refund to settle (webhook, else polling); handles failure."""
        for _ in range(_REFUND_SETTLE_POLLS):
            if self._refund_settled():
                break
            self._set_deadline("refund_settle")
            if not await self._wait(self._refund_settled, "refund_settle"):
                polled = await self._step(
                    "check refund", ActivityName.get_refund, self._resolution.refund.refund_id, RefundReceipt
                )
                self._apply_refund_status(
                    PaymentUpdate(
                        refund_id=polled.refund_id, status=polled.status, failure_reason=polled.failure_reason
                    ),
                    "system",
                )
        self._clear_deadline("refund_settle")
        refund = self._resolution.refund
        if refund.status is RefundState.succeeded:
            return await self._notify(NotificationKind.refunded, f"{refund.amount} {self._request.currency}")
        if refund.status in (RefundState.pending, RefundState.requires_action):
            await self._await_decision(_REFUND_FAILED, None, f"refund {refund.refund_id} still {refund.status.value}")
            return
        await self._after_failed_refund(refund)

    def _apply_refund_status(self, update: PaymentUpdate, actor: str) -> None:
        resolution = self._resolution
        refund = resolution.refund if resolution else None
        if not self._progress_from_evidence:  # returns started before the patch: the last update decided
            if refund is None or refund.refund_id != update.refund_id or refund.status is update.status:
                return  # not ours, or nothing new (webhooks and polls overlap)
            changed = refund.model_copy(update={"status": update.status, "failure_reason": update.failure_reason})
            self._resolution = resolution.model_copy(update={"refund": changed})
            return self._note(actor, f"refund {update.refund_id} is {update.status.value}")
        if refund is None or refund.refund_id != update.refund_id:
            # Stripe's webhook can beat the refund step's own answer: keep it for when the answer comes.
            if len(self._early_refund_reports) < _EARLY_REFUND_REPORTS:
                self._early_refund_reports.append((update, actor))
            return
        self._resolution = resolution.model_copy(update={"refund": self._with_report(refund, update, actor)})

    def _with_report(self, refund: RefundReceipt, update: PaymentUpdate, actor: str) -> RefundReceipt:
        """The refund after a status report: each status is noted once, and the refund only moves
        forward in Stripe's lifecycle (a late `pending` never undoes a `failed`)."""
        if self._first_time(f"refund:{update.refund_id}:{update.status.value}"):
            self._note(actor, f"refund {update.refund_id} reported {update.status.value}")
        if rules.later_refund_state(refund.status, update.status) is refund.status:
            return refund
        return refund.model_copy(update={"status": update.status, "failure_reason": update.failure_reason})

    def _refund_settled(self) -> bool:
        refund = self._resolution.refund if self._resolution else None
        return refund is not None and refund.status not in (RefundState.pending, RefundState.requires_action)

    async def _after_failed_refund(self, refund: RefundReceipt) -> None:
        reason = f"refund {refund.refund_id} {refund.status.value}: {refund.failure_reason or 'no reason given'}"
        self._note("payments", reason)
        ask_operator = self._policy.refund_failure_fallback is RefundFailureFallback.operator
        if ask_operator and await self._await_decision(_REFUND_FAILED, None, reason) == "reject":
            return self._finish(Stage.failed_needs_attention, "operator", "closed with a failed refund")
        await self._issue_store_credit(refund.amount, self._resolution.fees, bonus=False)

    async def _watch_refund_after_completion(self) -> None:
        """A refund can fail days after it succeeded: keep listening for the settle window."""
        refund = self._resolution.refund if self._resolution else None
        if refund is None or refund.status is not RefundState.succeeded:
            return
        self._set_deadline("refund_settle")
        failed = await self._wait(lambda: self._resolution.refund.status is RefundState.failed, "refund_settle")
        self._clear_deadline("refund_settle")
        if failed:
            await self._after_failed_refund(self._resolution.refund)

    async def _issue_store_credit(self, amount: int, fees: int, *, bonus: bool = True) -> None:
        request = self._request
        credit = rules.with_bonus(amount, self._policy.store_credit_bonus_bp) if bonus else amount
        receipt = await self._step(
            "store credit",
            ActivityName.issue_store_credit,
            StoreCreditRequest(
                return_id=request.return_id,
                customer_id=request.customer_id,
                amount=credit,
                currency=request.currency,
                idempotency_key=idempotency_key(request.return_id, "store_credit:1"),
            ),
            StoreCreditReceipt,
        )
        previous = self._resolution
        self._resolution = Resolution(
            kind=ResolutionKind.store_credit,
            amount=credit,
            fees=fees,
            refund=previous.refund if previous else None,
            instant_refund=previous.instant_refund if previous else None,
            store_credit=receipt,
        )
        self._note("payments", f"store credit {receipt.credit_id} of {credit} {request.currency}")
        await self._notify(NotificationKind.store_credit_issued, f"{credit} {request.currency}")

    async def _exchange(self) -> None:
        request = self._request
        placed: list[tuple[LineStatus, ExchangeReceipt]] = []
        for line in self._open_lines():
            if line.grade is None or not rules.is_refundable(line.grade, line.reason) or line.exchange_sku is None:
                continue
            receipt = await self._step(
                f"exchange {line.line_id}",
                ActivityName.order_exchange,
                ExchangeRequest(
                    return_id=request.return_id,
                    order_id=request.order_id,
                    customer_id=request.customer_id,
                    line_id=line.line_id,
                    sku=line.exchange_sku,
                    quantity=rules.units_back(line, self._receipts_recorded),
                    idempotency_key=idempotency_key(request.return_id, f"exchange:{line.line_id}"),
                ),
                ExchangeReceipt,
            )
            placed.append((line, receipt))
        out_of_stock = [(line, e) for line, e in placed if e.exchange_order_id is None]
        exchanges = [e for _, e in placed]
        self._resolution = Resolution(kind=ResolutionKind.exchange, amount=0, fees=0, exchanges=exchanges)
        if exchanges and not out_of_stock:
            return await self._notify(NotificationKind.exchange_ordered, ", ".join(e.sku for e in exchanges))
        fallback_value = sum(line.unit_price * e.quantity for line, e in out_of_stock)
        if not fallback_value:
            return
        self._note("system", f"out of stock: {', '.join(e.sku for _, e in out_of_stock)}; falling back")
        if self._policy.exchange_out_of_stock is OutOfStockFallback.store_credit:
            await self._issue_store_credit(fallback_value, 0)
        else:
            refund = await self._refund(fallback_value, "refund")
            self._resolution = self._resolution.model_copy(update={"amount": refund.amount, "refund": refund})
            await self._follow_refund()

    # --- Exits ---------------------------------------------------------------------------------

    async def _decline(self, why: str) -> None:
        self._finish(Stage.declined, "system", why)
        await self._notify(NotificationKind.declined, why)

    async def _expire(self) -> None:
        await self._void_label()
        await self._release_quantities()
        self._finish(Stage.expired, "system", "nothing shipped by the ship-by deadline")
        await self._notify(NotificationKind.expired, "the return window for shipping has passed")

    async def _compensate(self) -> None:
        """Undoes what a cancelled return did, in reverse order, then closes it."""
        action = self._cancellation
        self._compensating = True
        for line in self._open_lines():
            if line.disposition is Disposition.restock and line.disposition_work_id and not line.restock_reversed:
                await self._step(
                    f"reverse restock {line.line_id}",
                    ActivityName.reverse_restock,
                    RestockReversal(
                        return_id=self._request.return_id, line_id=line.line_id, restock_id=line.disposition_work_id
                    ),
                    type(None),
                )
                self._lines[line.line_id] = self._lines[line.line_id].model_copy(update={"restock_reversed": True})
        if not rules.is_at_or_past(self._stage, Stage.in_transit):
            await self._void_label()
        await self._release_quantities()
        self._finish(Stage.cancelled, action.actor, f"cancelled: {action.reason}")
        await self._notify(NotificationKind.cancelled, action.reason)

    async def _void_label(self) -> None:
        if self._label is None or self._label_voided:
            return
        void = await self._step(
            "void label",
            ActivityName.void_label,
            LabelVoid(return_id=self._request.return_id, transaction_id=self._label.transaction_id),
            LabelVoidReceipt,
        )
        self._label_voided = True
        self._note("system", f"label voided ({void.refund_id}, {void.status})")

    async def _release_quantities(self) -> None:
        if self._order is not None:
            await self._step(
                "release quantities",
                ActivityName.release_quantities,
                ReservationRelease(order_id=self._request.order_id, return_id=self._request.return_id),
                type(None),
            )

    # --- Building blocks --------------------------------------------------------------------------

    async def _step(self, name: str, activity: str, arg: Any, result_type: type[T]) -> T:
        """Runs an activity; when its retries run out, waits for an operator's `retry`.

        After a cancellation was accepted, only compensating steps still run.
        """
        while True:
            if self._cancel_pending():
                raise _Cancelled
            try:
                return await workflow.execute_activity(
                    activity,
                    arg,
                    result_type=result_type,
                    start_to_close_timeout=STEP_TIMEOUT,
                    heartbeat_timeout=STEP_HEARTBEAT,
                    retry_policy=STEP_RETRY,
                )
            except ActivityError as error:
                cause = error.cause
                error_type = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
                self._flag(f"{name} failed", step=name, error_type=error_type, message=str(cause or error))
                self._retry_requested = False
                await self._wait(lambda: self._retry_requested)
                self._unflag()

    async def _wait(self, condition: Callable[[], bool], deadline: str | None = None) -> bool:
        """Waits for `condition`; False if the named deadline passes first (extensions count).

        Raises `_Cancelled` as soon as a cancellation is accepted.
        """
        while True:
            if self._cancel_pending():
                raise _Cancelled
            if condition():
                return True
            timeout = None
            if deadline is not None:
                timeout = self._deadlines[deadline] - workflow.now()
                if timeout <= timedelta(0):
                    return False
            version = self._deadline_version
            with contextlib.suppress(TimeoutError):  # loop: the deadline check above decides
                await workflow.wait_condition(
                    lambda version=version: condition() or self._cancel_pending() or self._deadline_version != version,
                    timeout=timeout,
                )

    async def _await_decision(self, kind: str, deadline: str | None, reason: str) -> str:
        """Waits for an operator's approve/reject; a passed deadline escalates, never decides."""
        self._awaiting_decision = kind
        self._decision = None
        self._flag(f"operator decision needed: {reason}")
        if deadline is not None and not await self._wait(lambda: self._decision is not None, deadline):
            self._flag(f"escalated: no decision within the {deadline} deadline ({reason})")
        await self._wait(lambda: self._decision is not None)
        if deadline is not None:
            self._clear_deadline(deadline)
        self._awaiting_decision = None
        self._unflag()
        verdict, _ = self._decision
        return verdict

    def _decide(self, verdict: str, action: OperatorAction) -> ReturnStatus:
        self._decision = (verdict, action)
        self._note(action.actor, f"{verdict}d ({self._awaiting_decision}): {action.reason}")
        return self.status()

    async def _notify(self, kind: NotificationKind, detail: str) -> None:
        """Tells the shopper; a notification that can't be sent is noted, never blocking."""
        try:
            await workflow.execute_activity(
                ActivityName.notify_shopper,
                ShopperNotification(
                    return_id=self._request.return_id, customer_id=self._request.customer_id, kind=kind, detail=detail
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(minutes=1)),
            )
        except ActivityError as error:
            self._note("system", f"shopper not notified ({kind.value}): {error.cause or error}")

    # --- State ---------------------------------------------------------------------------

    def _cancel_pending(self) -> bool:
        return self._cancellation is not None and not self._compensating

    def _open_lines(self) -> list[LineStatus]:
        return [line for line in self._lines.values() if line.declined is None]

    def _decline_line(self, line_id: str, reason: DeclineReason) -> None:
        self._lines[line_id] = self._lines[line_id].model_copy(update={"declined": reason})
        self._note("system", f"{line_id} declined: {reason.value}")

    def _first_time(self, event_key: str) -> bool:
        """Webhooks and handhelds redeliver; each event counts once."""
        if event_key in self._seen_events:
            return False
        self._seen_events.add(event_key)
        return True

    def _receipt_problem(self, receipt: ParcelReceipt) -> ApplicationError | None:
        unknown = [line.line_id for line in receipt.lines if line.line_id not in self._lines]
        if unknown:
            return _invalid_input("lines", f"unknown line ids: {unknown}")
        if self._inspected_by is not None:
            return _invalid_state("the return was already inspected")
        if self._progress_from_evidence and not self._parcel_expected():
            return _invalid_state("no parcel is on its way yet")
        return None

    def _inspection_problem(self, report: InspectionReport) -> ApplicationError | None:
        if self._stage in CLOSED_STAGES:
            return _invalid_state("the return is closed")
        if self._inspected_by is not None:
            return _invalid_state("the return was already inspected")
        if self._progress_from_evidence and not self._parcel_expected():
            return _invalid_state("no parcel is on its way yet")
        if not self._progress_from_evidence and not rules.is_at_or_past(self._stage, Stage.delivered):
            return _invalid_state("the parcel has not arrived yet")
        expected = sorted(line.line_id for line in self._open_lines())
        if sorted(line.line_id for line in report.lines) != expected:
            return _invalid_input("lines", f"an inspection must grade each open line exactly once: {expected}")
        return None

    def _parcel_expected(self) -> bool:
        """A parcel can be on its way: its label exists, or the shopper brings it to a store."""
        first = Stage.approved if self._request.method is ReturnMethod.in_store else Stage.label_issued
        return rules.is_at_or_past(self._stage, first)

    def _set_deadline(self, name: str) -> None:
        self._deadlines[name] = workflow.now() + self._policy.deadlines.of(name)

    def _clear_deadline(self, name: str) -> None:
        self._deadlines.pop(name, None)

    def _require(self, ok: bool, message: str) -> None:
        if not ok:
            raise _invalid_state(message)

    def _refuse(self, problem: ApplicationError | None) -> None:
        if problem is not None:
            raise problem

    def _flag(
        self, reason: str, *, step: str | None = None, error_type: str | None = None, message: str | None = None
    ) -> None:
        self._attention = Attention(
            reason=reason, step=step, error_type=error_type, message=message, since=workflow.now()
        )
        self._note("system", f"needs attention: {reason}" + (f" ({error_type}: {message})" if error_type else ""))
        workflow.upsert_search_attributes([NEEDS_ATTENTION.value_set("true")])

    def _unflag(self) -> None:
        if self._attention is not None:
            self._attention = None
            workflow.upsert_search_attributes([NEEDS_ATTENTION.value_set("false")])

    def _finish(self, stage: Stage, actor: str, detail: str) -> None:
        self._deadlines.clear()
        self._unflag()
        self._move_to(stage, actor, detail)

    def _move_to(self, stage: Stage, actor: str, detail: str) -> None:
        """The one place a return changes stage: state, timeline and visibility together."""
        self._stage = stage
        self._note(actor, detail)
        workflow.upsert_search_attributes([RETURN_STAGE.value_set(stage.value)])

    def _note(self, actor: str, detail: str) -> None:
        self._timeline.append(TimelineEntry(at=workflow.now(), stage=self._stage, actor=actor, detail=detail))
        workflow.logger.info(
            detail, extra={"return_id": self._request.return_id, "stage": self._stage.value, "actor": actor}
        )
