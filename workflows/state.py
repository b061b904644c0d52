"""What a return knows, the facts that follow from it, and the checks its validators run.

Plain Python: no Temporal calls here, so the workflow sandbox passes this module through
(imported once per worker, not once per return) and tests use it without a server. The
workflow (return_workflow.py) changes this state only through its steps and handlers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio.exceptions import ApplicationError

import workflows.rules as rules
from activities.models import Label, OrderFacts, Pickup, PickupWindow
from workflows.contract import INVALID_INPUT, INVALID_STATE, receipt_key
from workflows.models import (
    Attention,
    Cancellation,
    DeadlineExtension,
    DispositionConfirmation,
    DispositionOverride,
    InspectionReport,
    LineStatus,
    OperatorAction,
    OtherWay,
    ParcelReceipt,
    PaymentUpdate,
    PickupChange,
    PickupStatus,
    Resolution,
    ReturnStatus,
    StartReturn,
    TimelineEntry,
)
from workflows.vocabulary import (
    CLOSED_STAGES,
    Deadline,
    Decision,
    Disposition,
    RefundState,
    ReturnMethod,
    Stage,
    TrackingStatus,
    Verdict,
    WayOut,
)

# Whatever its callers do, a return's state and history stay far below Temporal's limits: what it
# takes past these is refused (updates: never written to history) or ignored (signals).
MAX_PARCELS = 20  # distinct receipts
MAX_SCANS = 100  # distinct carrier scans
MAX_ACTIONS = 100  # operators' and shoppers' accepted actions

# The decisions a rejection can answer (an instant-refund shortfall can only be accepted).
REJECTABLE = frozenset({Decision.review, Decision.lost_parcel, Decision.refund_failed})


def invalid_state(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID_STATE, non_retryable=True)


def invalid_input(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, field, type=INVALID_INPUT, non_retryable=True)


class ReturnState:
    def __init__(self, start: StartReturn, *, progress_from_evidence: bool) -> None:
        request = start.request
        self._request = request
        self._policy = start.policy
        # Returns started before progress followed from the set of events seen keep the
        # order-sensitive rules they started with (return_workflow.PROGRESS_FROM_EVIDENCE).
        self._progress_from_evidence = progress_from_evidence
        self._stage = Stage.requested
        self._lines = {
            line.line_id: LineStatus(
                line_id=line.line_id,
                sku=line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price or 0,  # the doors fill it in from the order
                reason=line.reason,
                exchange_sku=line.exchange_sku,
                shopper_photo_urls=line.photo_urls,
                shopper_comment=line.comment,
            )
            for line in request.lines
        }
        self._order: OrderFacts | None = None
        self._label: Label | None = None
        self._label_voided = False
        # Method pickup: the window the shopper wants (None: no pickup), the booking of it, and those given up.
        self._pickup_wanted: PickupWindow | None = request.pickup
        self._pickup: Pickup | None = None
        self._pickup_booked_for: PickupWindow | None = None
        self._pickups_released: list[Pickup] = []
        self._pickup_missed = False
        self._awaiting_pickup = False  # the parcel is still at the shopper's, the label valid
        self._scans: list[rules.SeenScan] = []
        self._last_scan_applied: TrackingStatus | None = None  # what returns started before the patch decide by
        self._early_refund_reports: list[tuple[PaymentUpdate, str]] = []
        self._seen_events: set[str] = set()
        self._last_progress_at: datetime | None = None
        self._receipts_recorded = False
        self._inspected_by: str | None = None
        self._resolution: Resolution | None = None
        self._attention: Attention | None = None
        self._deadlines: dict[Deadline, datetime] = {}
        self._deadline_version = 0
        self._awaiting_decision: Decision | None = None
        self._decision: tuple[Verdict, OperatorAction] | None = None
        self._retry_requested = False
        self._cancellation: Cancellation | None = None
        self._compensating = False
        self._confirming: set[str] = set()  # lines whose work confirmation is being told to the shop
        self._parcels_received = 0
        self._actions_taken = 0
        # Returns started before `MONEY_FROM_THE_ORDER` refund the request's payment; later ones the order's.
        self._money_from_order = False
        self._money_moving = False
        self._credits_issued = 0
        self._ways_out: frozenset[WayOut] = frozenset()  # what an operator may do with the failed step
        self._way_out: tuple[WayOut, OperatorAction] | None = None
        self._timeline: list[TimelineEntry] = []
        # Returns started before `RETURN_EVENTS` record no events; later ones number theirs from 1.
        self._records_events = False
        self._emails_shopper = False  # returns started before `SHOPPER_EMAILS` send no email
        self._appends_locally = False  # returns started before `EVENTS_APPENDED_LOCALLY`: scheduled appends
        self._event_sequence = 0
        self._recording: list[Any] = []  # the appends of events not known to be done

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
            awaiting_decision=self._awaiting_decision,
            deadlines=dict(self._deadlines),
            pickup=self._pickup_status(),
            policy_version=self._policy.version,
            timeline=list(self._timeline),
        )

    def _pickup_status(self) -> PickupStatus | None:
        if self._request.method is not ReturnMethod.pickup:
            return None
        return PickupStatus(
            wanted=self._pickup_wanted,
            booked=self._pickup,
            released=list(self._pickups_released),
            missed=self._pickup_missed,
        )

    # --- Facts -----------------------------------------------------------------------------------

    @property
    def _currency(self) -> str:
        """The order's currency (the doors fill the request's in from it)."""
        return self._order.currency if self._money_from_order and self._order else self._request.currency

    @property
    def _customer(self) -> str:
        return self._order.customer_id if self._money_from_order and self._order else self._request.customer_id

    def _open_lines(self) -> list[LineStatus]:
        return [line for line in self._lines.values() if line.declined is None]

    def _first_time(self, event_key: str) -> bool:
        """Webhooks and handhelds redeliver; each event counts once."""
        if event_key in self._seen_events:
            return False
        self._seen_events.add(event_key)
        return True

    def _cancel_pending(self) -> bool:
        return self._cancellation is not None and not self._compensating

    def _departed(self) -> bool:
        """The parcel left the shopper: a departure scan, or the warehouse already has it."""
        if not self._progress_from_evidence:  # the last scan applied decided
            return self._last_scan_applied not in (None, TrackingStatus.pre_transit)
        return rules.has_departed(self._scans) or rules.is_at_or_past(self._stage, Stage.delivered)

    def _carrier_reports(self) -> TrackingStatus | None:
        return rules.carrier_status(self._scans) if self._progress_from_evidence else self._last_scan_applied

    def _parcel_lost(self) -> bool:
        status = self._carrier_reports()
        return status is not None and rules.is_lost_scan(status)

    def _parcel_expected(self) -> bool:
        """A parcel can be on its way: its label exists, or the shopper brings it to a store."""
        first = Stage.approved if self._request.method is ReturnMethod.in_store else Stage.label_issued
        return rules.is_at_or_past(self._stage, first)

    def _paid_back(self, line: LineStatus) -> bool:
        """Whether an inspected line earns the shopper anything back (refund, credit or exchange)."""
        return rules.earns_something(line, self._policy)

    def _settlement_unseen(self, *, shipped: bool) -> rules.Settlement:
        """Money owed without an inspection (keep-it, instant refund, lost parcel): as if graded A."""
        return rules.settle_unseen(self._open_lines(), self._policy, shipped=shipped, currency=self._currency)

    def _fully_received(self) -> bool:
        """Every unit of every open line is accounted for by the warehouse's receipts."""
        return all(line.received_quantity + line.wrong_item_quantity >= line.quantity for line in self._open_lines())

    def _refund_settled(self) -> bool:
        refund = self._resolution.refund if self._resolution else None
        return refund is not None and refund.status not in (RefundState.pending, RefundState.requires_action)

    # --- What the validators check ------------------------------------------------------------------

    def _receipt_problem(self, receipt: ParcelReceipt) -> ApplicationError | None:
        unknown = [line.line_id for line in receipt.lines if line.line_id not in self._lines]
        if unknown:
            return invalid_input("lines", f"unknown line ids: {unknown}")
        if self._inspected_by is not None:
            return invalid_state("the return was already inspected")
        if self._progress_from_evidence and not self._parcel_expected():
            return invalid_state("no parcel is on its way yet")
        if self._parcels_received >= MAX_PARCELS:
            return invalid_state(f"a return takes at most {MAX_PARCELS} parcels' receipts")
        return None

    def _receipt_refusal(self, receipt: ParcelReceipt) -> ApplicationError | None:
        """A receipt the `record_receipt` update refuses; a redelivery is accepted and counted once."""
        if self._stage in CLOSED_STAGES:
            return invalid_state("the return is closed")
        return None if receipt_key(receipt.receipt_id) in self._seen_events else self._receipt_problem(receipt)

    def _inspection_problem(self, report: InspectionReport) -> ApplicationError | None:
        if self._stage in CLOSED_STAGES:
            return invalid_state("the return is closed")
        if self._inspected_by is not None:
            return invalid_state("the return was already inspected")
        if self._progress_from_evidence and not self._parcel_expected():
            return invalid_state("no parcel is on its way yet")
        if not self._progress_from_evidence and not rules.is_at_or_past(self._stage, Stage.delivered):
            return invalid_state("the parcel has not arrived yet")
        expected = sorted(line.line_id for line in self._open_lines())
        if sorted(line.line_id for line in report.lines) != expected:
            return invalid_input("lines", f"an inspection must grade each open line exactly once: {expected}")
        return None

    def _confirmation_problem(self, confirmation: DispositionConfirmation) -> ApplicationError | None:
        line = self._lines.get(confirmation.line_id)
        if line is None:
            return invalid_input("line_id", f"return {self._request.return_id} has no line {confirmation.line_id}")
        # Work is confirmed after the return completed too: it stays open for that (disposition_work).
        if line.disposition is None or line.disposition_work_id is None:
            return invalid_state(f"no disposition work has been ordered for {line.line_id}")
        if line.disposition is Disposition.restock:
            return invalid_state(f"{line.line_id} was restocked: there is no work to confirm")
        return None

    def _unconfirmed_work(self) -> list[LineStatus]:
        """Lines whose disposition work order (not a restock) the warehouse has not confirmed yet."""
        return [
            line
            for line in self._open_lines()
            if line.disposition_work_id
            and line.disposition is not Disposition.restock
            and not line.disposition_confirmed_by
        ]

    def _within_limits(self, problem: ApplicationError | None) -> ApplicationError | None:
        """An action's own problem, else the cap on the actions a return takes."""
        if problem is None and self._actions_taken >= MAX_ACTIONS:
            return invalid_state(f"a return takes at most {MAX_ACTIONS} actions")
        return problem

    def _decision_problem(self, verdict: Verdict) -> ApplicationError | None:
        if verdict is Verdict.approve and self._awaiting_decision is None:
            return invalid_state("nothing is waiting for an approval")
        if verdict is Verdict.reject and self._awaiting_decision not in REJECTABLE:
            return invalid_state("nothing is waiting for a rejection")
        return None

    def _cancel_problem(self, action: Cancellation) -> ApplicationError | None:
        if self._cancellation is not None:
            return invalid_state("a cancellation is already under way")
        if self._stage in CLOSED_STAGES:
            return invalid_state("the return is closed")
        if self._money_moving:
            return invalid_state("money is being returned right now; it can't be cancelled")
        if rules.is_at_or_past(self._stage, Stage.resolving) or self._resolution is not None:
            return invalid_state("the return is being resolved; it can't be cancelled (an operator can close it)")
        if action.requested_by == "shopper" and rules.is_at_or_past(self._stage, Stage.in_transit):
            return invalid_state("the parcel has shipped; ask the shop")
        return None

    def _other_way_problem(self, other: OtherWay) -> ApplicationError | None:
        if self._attention is None or self._attention.step is None:
            return invalid_state("no failed step to resolve another way")
        if other.way not in self._ways_out:
            offered = ", ".join(sorted(way.value for way in self._ways_out))
            return invalid_state(f"the {self._attention.step} step offers: {offered}")
        return None

    def _retry_problem(self) -> ApplicationError | None:
        if self._attention is None or self._attention.step is None:
            return invalid_state("no failed step to retry")
        return None

    def _override_problem(self, override: DispositionOverride) -> ApplicationError | None:
        line = self._lines.get(override.line_id)
        if line is None:
            return invalid_state(f"no line {override.line_id}")
        if self._stage in CLOSED_STAGES:
            return invalid_state("the return is closed")
        if line.declined is not None:
            return invalid_state("the line was declined")
        if line.disposition_work_id is not None:
            return invalid_state("that line's disposition already ran")
        return None

    def _pickup_problem(self, now: datetime) -> ApplicationError | None:
        """Whether the carrier pickup can still be moved or cancelled."""
        if self._request.method is not ReturnMethod.pickup:
            return invalid_state("the return is not collected by the carrier (method pickup)")
        if self._stage in CLOSED_STAGES:
            return invalid_state("the return is closed")
        if self._label is None:
            return invalid_state("the pickup is booked once the label is bought; try again in a moment")
        if not self._awaiting_pickup or self._departed():
            return invalid_state("the carrier has the parcel")
        booked = self._pickup
        if booked is not None and booked.cancel_by is not None and now > booked.cancel_by:
            return invalid_state(f"the booked pickup can't be changed after {booked.cancel_by:%Y-%m-%d %H:%M} UTC")
        return None

    def _pickup_change_problem(self, change: PickupChange, now: datetime) -> ApplicationError | None:
        problem = self._pickup_problem(now)
        if problem is None and change.window == self._pickup_wanted:
            return invalid_state("that is the window already booked")
        if problem is None:
            said = rules.pickup_window_problem(change.window, now, self._deadlines[Deadline.ship_by])
            problem = invalid_input("window", said) if said else None
        return problem

    def _pickup_cancel_problem(self, now: datetime) -> ApplicationError | None:
        problem = self._pickup_problem(now)
        if problem is None and self._pickup_wanted is None:
            return invalid_state("no pickup is booked")
        return problem

    def _extension_problem(self, extension: DeadlineExtension) -> ApplicationError | None:
        if extension.deadline not in self._deadlines:
            return invalid_state(f"no running deadline '{extension.deadline.value}'")
        if self._stage in CLOSED_STAGES:
            return invalid_state("the return is closed")
        return None
