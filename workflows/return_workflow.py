"""ReturnWorkflow: one product return, from request to resolution, as one durable workflow.

Contract (models in workflows/models.py, ids and keys in workflows/contract.py)
- id: `workflow_id_for(return_id)`; starting the same return twice reaches the same workflow.
- input: `StartReturn` (the shop's request + the policy pinned at start); result: `ReturnStatus`.
- signals (events, each counted once): `carrier_scan`, `parcel_received`, `inspection_recorded`,
  `payment_update`.
- updates (each has a validator that refuses, before anything is written, what the current
  state can't take; each answers a small `Acknowledgement`): the warehouse's `record_receipt`
  and `record_inspection` (the two signals with their checks), and the operator's and shopper's
  `approve`, `reject`, `cancel`, `retry`, `override_disposition`, `extend_deadline`, and for
  method pickup `reschedule_pickup` and `cancel_pickup`.
- queries: `status`, `timeline`, `request`.
- search attributes: workflows/search_attributes.py, moved with the stage in `_move_to`.

Process (`_process`, below)
  load the order -> eligibility (declined | needs_review -> approve/reject) -> reserve quantities
  -> by method: keep_it resolves at once; mail_label/drop_off/pickup buy a label and wait for the
     parcel to leave (pickup: the carrier booked beside that wait, workflows/pickup.py; ship-by
     deadline -> void, expired), then to arrive (stalls flagged; lost parcels per
     policy); in_store waits for the store's receipt; a bounced outbound parcel skips to receiving
  -> receiving and inspection (late ones flagged) -> one disposition per line
  -> resolution (workflows/resolution.py): refund, store credit or exchange -> completed.
A return's progress follows from the set of events it has seen, not their order. How steps run,
wait, ask operators and stop for a cancellation is in workflows/steps.py; what the validators
check, in workflows/state.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # Passed through: imported once per worker, not once per return (memory and CPU per return).
    import workflows.rules as rules
    from activities.labels import LabelActivities
    from activities.models import (
        DispositionRequest,
        LabelRequest,
        LabelVoid,
        NotificationKind,
        QuantityReservation,
        RequestedQuantity,
        ReservationRelease,
        ReservationRequest,
        RestockReversal,
        SaidWhy,
        TrackingRegistration,
        WorkOrderCompletion,
    )
    from activities.shop import WORK_ORDER_ACTIVITIES, ShopActivities
    from store.events import EventType
    from workflows.contract import INVALID_STATE, ORDER_NOT_FOUND, UNAVAILABLE, receipt_key, scan_key
    from workflows.models import (
        Acknowledgement,
        Cancellation,
        CarrierScan,
        DeadlineExtension,
        DispositionConfirmation,
        DispositionOverride,
        InspectionReport,
        OperatorAction,
        OtherWay,
        ParcelReceipt,
        PaymentUpdate,
        PickupChange,
        ReturnRequest,
        ReturnStatus,
        StartReturn,
        TimelineEntry,
    )
    from workflows.pickup import CarrierPickup, window_text
    from workflows.policy import LostParcelAction
    from workflows.resolution import ReturnResolution
    from workflows.search_attributes import TRACKING_NUMBER
    from workflows.state import MAX_PARCELS, MAX_SCANS
    from workflows.steps import STEP_HEARTBEAT, STEP_TIMEOUT, ReturnCancelled, ReturnClosedUnresolved, StepRefused
    from workflows.vocabulary import (
        CLOSED_STAGES,
        Deadline,
        Decision,
        DeclineReason,
        Disposition,
        Reception,
        ReturnMethod,
        Stage,
        Verdict,
    )

# Changes to the commands of running returns, each wrapped in `workflow.patched` (README,
# "Changing workflow code safely"); returns started before one keep the old path.
# A return's progress follows from the set of events it has seen (scans, receipts, refund reports),
# not from the order a batch of them was applied in.
PROGRESS_FROM_EVIDENCE = "progress-from-evidence"
# An order the shop does not know declines the return at once (it used to wait for an operator).
DECLINE_UNKNOWN_ORDER = "decline-unknown-order"
# After arrival, the warehouse has `receiving_days` to receive every unit before it is flagged.
RECEIVING_DEADLINE = "receiving-deadline"
# A completed return with disposition work orders stays open until the warehouse confirms them.
AWAIT_DISPOSITION_WORK = "await-disposition-work"
# Money facts come from the shop's order: its payments (split tender), currency and customer;
# refunds never exceed what a payment has left, the rest goes the policy's way.
MONEY_FROM_THE_ORDER = "money-from-the-order"
# Keep-it and lost-parcel returns, resolved without inspection, listen for the settle window too: a
# refund can fail days after it succeeded, and its money must still go back some way.
WATCH_EVERY_REFUND = "watch-every-refund"
# Each change of a return becomes an event in the event store (store/), in sequence, each once.
RETURN_EVENTS = "return-events"
# The shopper gets every notification by email too, a reminder before the ship-by deadline, and word
# when the warehouse has the items. Decided once, when a return starts (see __init__).
SHOPPER_EMAILS = "shopper-emails"

# Events are appended by the worker itself (a local activity: a marker in the history, no task through
# the server), and by a scheduled activity only when the store doesn't take one at once.
EVENTS_APPENDED_LOCALLY = "events-appended-locally"
# Method pickup (new with it: no running return took this branch before): the carrier is booked to
# collect the parcel after the label is bought (workflows/pickup.py).
CARRIER_PICKUP = "carrier-pickup"

# A confirmation's caller waits for the answer (TEMPORAL_RPC_TIMEOUT_SECONDS): retry briefly, then say so.
CONFIRMATION_RETRY = RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=2))


@workflow.defn
class ReturnWorkflow(ReturnResolution, CarrierPickup):
    @workflow.init
    def __init__(self, start: StartReturn) -> None:
        super().__init__(start, progress_from_evidence=workflow.patched(PROGRESS_FROM_EVIDENCE))
        self._records_events = workflow.patched(RETURN_EVENTS)
        self._emails_shopper = workflow.patched(SHOPPER_EMAILS)
        self._appends_locally = workflow.patched(EVENTS_APPENDED_LOCALLY)

    @workflow.run
    async def run(self, start: StartReturn) -> ReturnStatus:
        self._note("shop", f"return requested for order {self._request.order_id}, {len(self._lines)} line(s)")
        self._event(EventType.requested)
        try:
            await self._process()
        except ReturnCancelled:
            action = self._cancellation
            await self._compensate(Stage.cancelled, action.actor, f"cancelled: {action.reason}")
            await self._notify(NotificationKind.cancelled, action.reason)
        except ReturnClosedUnresolved as closed:
            action = closed.action
            await self._compensate(Stage.failed_needs_attention, action.actor, f"closed unresolved: {action.reason}")
            await self._notify(NotificationKind.closed, action.reason)
        self._event(EventType.closed)  # the store keeps the return once Temporal deletes the closed run
        await self._events_recorded()
        return self.status()

    async def _process(self) -> None:
        if not await self._decide_eligibility():
            return
        request = self._request
        if request.return_to_origin:
            self._move_to(Stage.delivered, "carrier", "outbound parcel came back to the warehouse undelivered")
        elif request.method is ReturnMethod.keep_it:
            await self._resolve(self._settlement_unseen(shipped=False), "keep it")
            self._finish(Stage.completed, "system", "resolved without shipping (keep it)")
            return await self._watch_refund_unless_older()
        elif request.method is ReturnMethod.in_store:
            self._set_deadline(Deadline.ship_by)
            if not await self._wait(lambda: self._receipts_recorded, Deadline.ship_by):
                return await self._expire()
            if not rules.is_at_or_past(self._stage, Stage.delivered):  # returns started before the patch
                self._move_to(Stage.delivered, "store", "returned in store")
        else:
            await self._issue_label()
            if not await self._await_departure_or_pickup():
                return await self._expire()
            await self._maybe_refund_instantly()
            if not await self._await_delivery():
                return await self._settle_lost_parcel()
        await self._await_inspection()
        await self._dispose_lines()
        await self._resolve(self._settlement(), "inspected lines")
        if self._money_from_order and self._stage in CLOSED_STAGES:
            return  # an operator closed it unresolved (a payment that can't be made another way)
        self._finish(Stage.completed, "system", "return resolved")
        awaits_work = bool(self._unconfirmed_work()) and workflow.patched(AWAIT_DISPOSITION_WORK)
        if awaits_work:
            self._set_deadline(Deadline.disposition_work)
        await self._watch_refund_after_completion()
        if awaits_work:
            await self._await_disposition_work()

    # --- Queries -------------------------------------------------------------------------------

    @workflow.query
    def status(self) -> ReturnStatus:
        return super().status()

    @workflow.query
    def timeline(self) -> list[TimelineEntry]:
        return list(self._timeline)

    @workflow.query
    def request(self) -> ReturnRequest:
        """The request this return was started with (doors compare a repeated start with it)."""
        return self._request

    # --- Events from the carrier, the warehouse and Stripe ------------------------------------------

    @workflow.signal
    def carrier_scan(self, scan: CarrierScan) -> None:
        if len(self._scans) >= MAX_SCANS or not self._first_time(scan_key(scan.event_id)):
            return  # a redelivery, or a flood: the return keeps what it has
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
        if not self._first_time(receipt_key(receipt.receipt_id)) or self._stage in CLOSED_STAGES:
            return
        if self._parcels_received >= MAX_PARCELS:
            return  # a flood: refused by the update, ignored as a signal
        problem = self._receipt_problem(receipt)
        if problem:
            return self._note(receipt.received_by, f"receipt {receipt.receipt_id} ignored: {problem.message}")
        self._parcels_received += 1
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
            self._move_to(Stage.delivered, receipt.received_by, detail)
        else:
            self._note(receipt.received_by, detail)
        self._event(EventType.received)

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
                disposition = rules.disposition_for(
                    inspected.grade, line.category, line.unit_price, self._policy, self._currency
                )
                override_reason = None
            self._lines[line.line_id] = line.model_copy(
                update={
                    "grade": inspected.grade,
                    "inspection_notes": inspected.notes,
                    "inspection_photo_urls": list(inspected.photo_urls),
                    "disposition": disposition,
                    "disposition_override_reason": override_reason,
                    "reception": rules.reception_after_inspection(line, inspected.grade, self._receipts_recorded),
                    "fault_confirmed": rules.fault_confirmed(line.reason, inspected.grade, inspected.fault_confirmed),
                }
            )
            if line.reason in rules.SHOP_AT_FAULT and not self._lines[line.line_id].fault_confirmed:
                self._note(
                    report.inspector,
                    f"{line.line_id}: {line.reason.value} not borne out by the inspection: the usual outcome applies",
                )
        self._inspected_by = report.inspector  # an inspection, like a receipt, proves the parcel arrived
        grades = ", ".join(f"{line.line_id}={line.grade.value}" for line in report.lines)
        self._move_to(Stage.inspecting, report.inspector, f"inspected: {grades}")

    @workflow.signal
    def payment_update(self, update: PaymentUpdate) -> None:
        self._apply_refund_status(update, "payments")

    # The warehouse's doors: the signals above, as updates whose validators refuse bad input
    # before anything is written, so the handheld hears why at once (the signals stay for
    # tools that only signal, and for the histories of running returns).
    @workflow.update
    def record_receipt(self, receipt: ParcelReceipt) -> None:
        self.parcel_received(receipt)

    @record_receipt.validator
    def _validate_receipt(self, receipt: ParcelReceipt) -> None:
        self._refuse(self._receipt_refusal(receipt))

    @workflow.update
    def record_inspection(self, report: InspectionReport) -> None:
        self.inspection_recorded(report)

    @record_inspection.validator
    def _validate_inspection(self, report: InspectionReport) -> None:
        self._refuse(self._inspection_problem(report))

    # --- Operators and shoppers ---------------------------------------------------------------------

    @workflow.update
    def approve(self, action: OperatorAction) -> Acknowledgement:
        self._decide(Verdict.approve, action)
        return self._acknowledge("approve")

    @approve.validator
    def _validate_approve(self, action: OperatorAction) -> None:
        self._refuse(self._within_limits(self._decision_problem(Verdict.approve)))

    @workflow.update
    def reject(self, action: OperatorAction) -> Acknowledgement:
        self._decide(Verdict.reject, action)
        return self._acknowledge("reject")

    @reject.validator
    def _validate_reject(self, action: OperatorAction) -> None:
        self._refuse(self._within_limits(self._decision_problem(Verdict.reject)))

    @workflow.update
    def cancel(self, action: Cancellation) -> Acknowledgement:
        self._cancellation = action
        self._note(action.actor, f"cancellation requested: {action.reason}")
        return self._acknowledge("cancel")

    @cancel.validator
    def _validate_cancel(self, action: Cancellation) -> None:
        self._refuse(self._within_limits(self._cancel_problem(action)))

    @workflow.update
    def resolve_otherwise(self, other: OtherWay) -> Acknowledgement:
        """A step that failed for good, resolved another way than retrying it (`status.attention` says which)."""
        self._way_out = (other.way, other)
        self._note(other.actor, f"{self._attention.step} to be resolved by {other.way.value}: {other.reason}")
        return self._acknowledge("resolve_otherwise")

    @resolve_otherwise.validator
    def _validate_other_way(self, other: OtherWay) -> None:
        self._refuse(self._within_limits(self._other_way_problem(other)))

    @workflow.update
    def retry(self, action: OperatorAction) -> Acknowledgement:
        self._retry_requested = True
        self._note(action.actor, f"retry of {self._attention.step if self._attention else 'step'}: {action.reason}")
        return self._acknowledge("retry")

    @retry.validator
    def _validate_retry(self, action: OperatorAction) -> None:
        self._refuse(self._within_limits(self._retry_problem()))

    @workflow.update
    def override_disposition(self, override: DispositionOverride) -> Acknowledgement:
        line = self._lines[override.line_id]
        self._lines[line.line_id] = line.model_copy(
            update={"disposition": override.disposition, "disposition_override_reason": override.reason}
        )
        self._note(override.actor, f"{line.line_id} disposition set to {override.disposition.value}: {override.reason}")
        return self._acknowledge("override_disposition")

    @override_disposition.validator
    def _validate_override(self, override: DispositionOverride) -> None:
        self._refuse(self._within_limits(self._override_problem(override)))

    @workflow.update
    def reschedule_pickup(self, change: PickupChange) -> Acknowledgement:
        """The shopper's (or the shop's) new pickup window: booked with the carrier, the old one given up."""
        self._pickup_wanted = change.window
        self._note(
            change.actor, f"pickup asked for {window_text(change.window.start, change.window.end)}: {change.reason}"
        )
        return self._acknowledge("reschedule_pickup")

    @reschedule_pickup.validator
    def _validate_reschedule_pickup(self, change: PickupChange) -> None:
        self._refuse(self._within_limits(self._pickup_change_problem(change, workflow.now())))

    @workflow.update
    def cancel_pickup(self, action: OperatorAction) -> Acknowledgement:
        """No carrier pickup after all: the shopper drops the parcel off with the label."""
        self._pickup_wanted = None
        self._note(action.actor, f"pickup cancelled: {action.reason}")
        return self._acknowledge("cancel_pickup")

    @cancel_pickup.validator
    def _validate_cancel_pickup(self, action: OperatorAction) -> None:
        self._refuse(self._within_limits(self._pickup_cancel_problem(workflow.now())))

    @workflow.update
    def extend_deadline(self, extension: DeadlineExtension) -> Acknowledgement:
        self._deadlines[extension.deadline] += timedelta(days=extension.days)
        self._deadline_version += 1
        self._note(
            extension.actor,
            f"{extension.deadline.value} deadline extended by {extension.days} day(s): {extension.reason}",
        )
        return self._acknowledge("extend_deadline")

    @workflow.update
    async def confirm_disposition(self, confirmation: DispositionConfirmation) -> Acknowledgement:
        line_id = confirmation.line_id
        if self._lines[line_id].disposition_confirmed_by is None and line_id not in self._confirming:
            self._confirming.add(line_id)  # a repeat while the shop is being told is accepted, told once
            try:
                first = await self._tell_shop_work_done(confirmation)
            finally:
                self._confirming.discard(line_id)
            line = self._lines[line_id]
            self._lines[line_id] = line.model_copy(update={"disposition_confirmed_by": first})
            self._note(confirmation.confirmed_by, f"{line_id}: {line.disposition.value} work confirmed done")
        return self._acknowledge("confirm_disposition")

    @confirm_disposition.validator
    def _validate_confirmation(self, confirmation: DispositionConfirmation) -> None:
        self._refuse(self._within_limits(self._confirmation_problem(confirmation)))

    @extend_deadline.validator
    def _validate_extend(self, extension: DeadlineExtension) -> None:
        self._refuse(self._within_limits(self._extension_problem(extension)))

    def _refuse(self, problem: ApplicationError | None) -> None:
        """A validator's refusal; one about the state carries the stage, so the door needs no query to say it."""
        if problem is None:
            return
        if problem.type == INVALID_STATE:
            raise ApplicationError(problem.message, self._stage.value, type=INVALID_STATE, non_retryable=True)
        raise problem

    def _acknowledge(self, action: str) -> Acknowledgement:
        self._actions_taken += 1
        return Acknowledgement(return_id=self._request.return_id, action=action, stage=self._stage)

    # --- Eligibility ---------------------------------------------------------------------------

    async def _decide_eligibility(self) -> bool:
        try:
            self._order = await self._step(
                "load order",
                ShopActivities.load_order,
                self._request.order_id,
                refusals=(ORDER_NOT_FOUND,),
                refusals_since=DECLINE_UNKNOWN_ORDER,
            )
        except StepRefused:
            await self._decline(f"the shop has no order {self._request.order_id}")
            return False
        self._money_from_order = workflow.patched(MONEY_FROM_THE_ORDER)
        assessment = rules.assess(
            self._request, self._order, self._policy, workflow.now(), prices_from_order=self._money_from_order
        )
        for line_id, category in assessment.categories.items():
            if line_id in self._lines:
                self._lines[line_id] = self._lines[line_id].model_copy(update={"category": category})
        for line_id, reason in assessment.declined.items():
            self._decline_line(line_id, reason)
        if not self._open_lines():
            await self._decline(SaidWhy.no_line_returnable)
            return False
        if assessment.review_reason and not await self._passes_review(assessment.review_reason):
            return False
        if not await self._reserve_quantities():
            return False
        self._move_to(Stage.approved, "system", f"{len(self._open_lines())} line(s) approved")
        return True

    async def _passes_review(self, reason: str) -> bool:
        self._move_to(Stage.needs_review, "system", f"manual review: {reason}")
        self._set_deadline(Deadline.review)
        if await self._await_decision(Decision.review, Deadline.review, reason) is Verdict.approve:
            return True
        for line in self._open_lines():
            self._decline_line(line.line_id, DeclineReason.rejected_by_operator)
        await self._decline(SaidWhy.rejected_in_review)
        return False

    async def _reserve_quantities(self) -> bool:
        """Never more than was bought minus what the order's other returns took."""
        request = self._request
        reservation: QuantityReservation = await self._step(
            "reserve quantities",
            ShopActivities.reserve_quantities,
            ReservationRequest(
                order_id=request.order_id,
                return_id=request.return_id,
                lines=[RequestedQuantity(line_id=line.line_id, quantity=line.quantity) for line in self._open_lines()],
            ),
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
            await self._decline(SaidWhy.quantities_taken)
            return False
        return True

    def _decline_line(self, line_id: str, reason: DeclineReason) -> None:
        self._lines[line_id] = self._lines[line_id].model_copy(update={"declined": reason})
        self._note("system", f"{line_id} declined: {reason.value}")

    # --- The parcel's journey -------------------------------------------------------------------

    async def _issue_label(self) -> None:
        request = self._request
        self._label = await self._step(
            "buy label",
            LabelActivities.buy_return_label,
            LabelRequest(
                return_id=request.return_id,
                customer_address=request.customer_address,
                warehouse_address=request.warehouse_address,
                parcel=request.parcel,
                qr_code=request.qr_code or request.method is ReturnMethod.drop_off,
            ),
        )
        await self._step(
            "register tracking",
            LabelActivities.register_tracking,
            TrackingRegistration(
                return_id=request.return_id, carrier=self._label.carrier, tracking_number=self._label.tracking_number
            ),
        )
        workflow.upsert_search_attributes([TRACKING_NUMBER.value_set(self._label.tracking_number)])
        self._move_to(Stage.label_issued, "system", f"label bought, tracking {self._label.tracking_number}")
        self._set_deadline(Deadline.ship_by)
        await self._notify(
            NotificationKind.label_ready,
            self._label.label_url or self._label.qr_code_url or "",
            until=self._deadlines[Deadline.ship_by],
        )

    async def _await_departure(self) -> bool:
        """Until the parcel's first scan (True) or the ship-by deadline (False); a shopper who has
        not sent it a few days before the deadline is reminded, once."""
        if self._emails_shopper and (remind_at := self._ship_by_reminder_at()) is not None:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._departed() or self._cancel_pending(), timeout=remind_at - workflow.now()
                )
            if not self._departed() and not self._cancel_pending():
                deadline = self._deadlines[Deadline.ship_by]
                await self._notify(NotificationKind.ship_by_reminder, f"send it by {deadline:%Y-%m-%d}", until=deadline)
        return await self._wait(self._departed, Deadline.ship_by)

    async def _await_departure_or_pickup(self) -> bool:
        """`_await_departure`, with the carrier's pickup kept beside it when the shopper asked for one."""
        if self._request.method is not ReturnMethod.pickup or not workflow.patched(CARRIER_PICKUP):
            return await self._await_departure()
        keeper = asyncio.create_task(self._keep_pickup())
        try:
            return await self._await_departure()
        finally:
            self._awaiting_pickup = False  # the keeper ends at its next wake-up (after a booking under way)
            await keeper

    def _ship_by_reminder_at(self) -> datetime | None:
        before = timedelta(days=self._policy.deadlines.ship_by_reminder_days)
        remind_at = self._deadlines[Deadline.ship_by] - before
        return remind_at if before and remind_at > workflow.now() else None

    async def _await_delivery(self) -> bool:
        """Waits until the parcel arrives (True) or the carrier gives up (False); flags stalls."""
        self._clear_deadline(Deadline.ship_by)

        def settled() -> bool:
            return rules.is_at_or_past(self._stage, Stage.delivered) or self._parcel_lost()

        while not settled():
            mark = self._last_progress_at

            def moved(mark: datetime | None = mark) -> bool:
                return settled() or self._last_progress_at != mark

            self._set_deadline(Deadline.transit_stall)
            if not await self._wait(moved, Deadline.transit_stall):
                self._flag(f"no carrier progress for {self._policy.deadlines.transit_stall_days:g} day(s)")
                await self._wait(moved)
                self._unflag()
        self._clear_deadline(Deadline.transit_stall)
        return not self._parcel_lost() or rules.is_at_or_past(self._stage, Stage.delivered)

    async def _settle_lost_parcel(self) -> None:
        for line in self._open_lines():
            self._lines[line.line_id] = line.model_copy(update={"reception": Reception.lost_in_transit})
        if self._policy.lost_parcel is LostParcelAction.operator:
            reported = self._carrier_reports()
            verdict = await self._await_decision(Decision.lost_parcel, None, f"carrier reported {reported.value}")
            if verdict is Verdict.reject:
                return await self._decline(SaidWhy.lost_parcel_declined)
        await self._resolve(self._settlement_unseen(shipped=False), "lost parcel")
        self._finish(Stage.completed, "system", "resolved although the parcel was lost")
        await self._watch_refund_unless_older()

    async def _watch_refund_unless_older(self) -> None:
        if self._stage is Stage.completed and workflow.patched(WATCH_EVERY_REFUND):
            await self._watch_refund_after_completion()

    # --- At the warehouse ------------------------------------------------------------------------

    async def _await_inspection(self) -> None:
        if workflow.patched(RECEIVING_DEADLINE):
            await self._await_receiving()
        if self._emails_shopper and self._fully_received():
            await self._notify(NotificationKind.received, "the warehouse has the items")
        self._set_deadline(Deadline.inspection_sla)
        if not await self._wait(lambda: self._inspected_by is not None, Deadline.inspection_sla):
            self._flag(f"not inspected within {self._policy.deadlines.inspection_sla_days:g} day(s)")
            await self._wait(lambda: self._inspected_by is not None)
        self._unflag()
        self._clear_deadline(Deadline.inspection_sla)

    async def _await_receiving(self) -> None:
        """After arrival, every unit is received (or the lines graded) within the receiving deadline."""

        def received() -> bool:
            return self._inspected_by is not None or (self._receipts_recorded and self._fully_received())

        self._set_deadline(Deadline.receiving)
        if not await self._wait(received, Deadline.receiving):
            self._flag(f"not fully received within {self._policy.deadlines.receiving_days:g} day(s) of arrival")
        self._clear_deadline(Deadline.receiving)

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
                restock = await self._step(f"restock {line.line_id}", ShopActivities.restock_line, request)
                work_id = restock.restock_id
            else:
                work = await self._step(
                    f"{disposition.value} {line.line_id}", WORK_ORDER_ACTIVITIES[disposition], request
                )
                work_id = work.work_order_id
            self._lines[line.line_id] = self._lines[line.line_id].model_copy(update={"disposition_work_id": work_id})
            self._note("warehouse", f"{line.line_id}: {disposition.value} x{request.quantity} ({work_id})")
            self._event(EventType.disposition_done)

    async def _tell_shop_work_done(self, confirmation: DispositionConfirmation) -> str:
        line = self._lines[confirmation.line_id]
        try:
            return await workflow.execute_activity_method(
                ShopActivities.complete_work_order,
                WorkOrderCompletion(
                    return_id=self._request.return_id,
                    line_id=line.line_id,
                    work_order_id=line.disposition_work_id,
                    completed_by=confirmation.confirmed_by,
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                heartbeat_timeout=STEP_HEARTBEAT,
                retry_policy=CONFIRMATION_RETRY,
            )
        except ActivityError as error:  # the handheld is waiting: tell it to try again, soon
            raise ApplicationError(
                f"the shop platform did not take it: {error.cause or error}", type=UNAVAILABLE
            ) from error

    async def _await_disposition_work(self) -> None:
        """Open until the warehouse confirms every work order done, or the disposition_work deadline."""
        if not await self._wait(lambda: not self._unconfirmed_work(), Deadline.disposition_work):
            waiting = ", ".join(f"{line.line_id} ({line.disposition.value})" for line in self._unconfirmed_work())
            days = self._policy.deadlines.disposition_work_days
            self._note("system", f"disposition work not confirmed within {days:g} day(s): {waiting}")
        self._clear_deadline(Deadline.disposition_work)

    def _settlement(self) -> rules.Settlement:
        shipped = rules.ships_a_parcel(self._request.method)
        return rules.settle(
            self._open_lines(),
            self._policy,
            shipped=shipped and not self._request.return_to_origin,
            receipts_recorded=self._receipts_recorded,
            currency=self._currency,
        )

    # --- Exits ---------------------------------------------------------------------------------

    async def _decline(self, why: str) -> None:
        self._finish(Stage.declined, "system", why)
        await self._notify(NotificationKind.declined, why)

    async def _expire(self) -> None:
        await self._void_label()
        await self._release_quantities()
        self._finish(Stage.expired, "system", "nothing shipped by the ship-by deadline")
        await self._notify(NotificationKind.expired, "the return window for shipping has passed")

    async def _compensate(self, stage: Stage, actor: str, detail: str) -> None:
        """Undoes what a cancelled (or operator-closed) return did, in reverse order, then closes it."""
        self._compensating = True
        for line in self._open_lines():
            if line.disposition is Disposition.restock and line.disposition_work_id and not line.restock_reversed:
                await self._step(
                    f"reverse restock {line.line_id}",
                    ShopActivities.reverse_restock,
                    RestockReversal(
                        return_id=self._request.return_id, line_id=line.line_id, restock_id=line.disposition_work_id
                    ),
                )
                self._lines[line.line_id] = self._lines[line.line_id].model_copy(update={"restock_reversed": True})
        if not rules.is_at_or_past(self._stage, Stage.in_transit):
            await self._void_label()
        await self._release_quantities()
        self._finish(stage, actor, detail)

    async def _void_label(self) -> None:
        if self._label is None or self._label_voided:
            return
        void = await self._step(
            "void label",
            LabelActivities.void_label,
            LabelVoid(return_id=self._request.return_id, transaction_id=self._label.transaction_id),
        )
        self._label_voided = True
        self._note("system", f"label voided ({void.refund_id}, {void.status})")
        self._release_pickup("the label is void")

    async def _release_quantities(self) -> None:
        if self._order is not None:
            await self._step(
                "release quantities",
                ShopActivities.release_quantities,
                ReservationRelease(order_id=self._request.order_id, return_id=self._request.return_id),
            )
