"""Business rules of a return, as plain functions: no I/O, no clock, no Temporal.

The workflow calls these with the policy pinned in the return; tests call them directly.
Changing one changes the decisions of returns already running, so a change here needs
the patching discipline (README, "Changing workflow code safely").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from activities.models import OrderFacts, PickupWindow
from workflows.models import LineStatus, ReturnLine, ReturnRequest
from workflows.policy import GradeOutcome, ReturnPolicy
from workflows.vocabulary import (
    DeclineReason,
    Disposition,
    Grade,
    ReasonCode,
    Reception,
    RefundState,
    ReturnMethod,
    Stage,
    TrackingStatus,
)

_MAIN_PATH = [
    Stage.requested,
    Stage.needs_review,
    Stage.approved,
    Stage.label_issued,
    Stage.in_transit,
    Stage.delivered,
    Stage.inspecting,
    Stage.resolving,
    Stage.completed,
]
_STAGE_ORDER = {stage: index for index, stage in enumerate(_MAIN_PATH)}

# The shop is at fault for these reasons: no fees, and a damaged item is still refunded.
SHOP_AT_FAULT = frozenset(
    {ReasonCode.defective, ReasonCode.damaged_in_transit, ReasonCode.wrong_item, ReasonCode.not_as_described}
)
_RESELLABLE = frozenset({Grade.a, Grade.b})
_SHIPPED_METHODS = frozenset({ReturnMethod.mail_label, ReturnMethod.drop_off, ReturnMethod.pickup})


# --- Stages --------------------------------------------------------------------------------


def is_at_or_past(stage: Stage, reference: Stage) -> bool:
    """Whether `stage` is `reference` or later on the main path (exits are past nothing)."""
    return stage in _STAGE_ORDER and _STAGE_ORDER[stage] >= _STAGE_ORDER[reference]


def stage_after_scan(current: Stage, scan: TrackingStatus) -> Stage:
    """The stage a carrier scan leads to. A late or repeated scan never moves a return back."""
    target = {TrackingStatus.transit: Stage.in_transit, TrackingStatus.delivered: Stage.delivered}.get(scan)
    if target is None or not is_at_or_past(current, Stage.label_issued) or is_at_or_past(current, target):
        return current
    return target


def is_lost_scan(scan: TrackingStatus) -> bool:
    """The carrier gave up: the parcel went back to the shopper, or is lost."""
    return scan in (TrackingStatus.returned, TrackingStatus.failure)


# --- The carrier's evidence ------------------------------------------------------------------
# Carriers and webhooks redeliver and reorder, and a batch of events can reach a return at once
# (while no worker runs). So what a return knows about its parcel is a function of the set of
# scans it has seen, never of the order they were applied in.

# Among scans stamped with the same time, the one further along the parcel's journey wins.
_JOURNEY_RANK = {
    TrackingStatus.unknown: 0,
    TrackingStatus.pre_transit: 1,
    TrackingStatus.transit: 2,
    TrackingStatus.failure: 3,
    TrackingStatus.returned: 4,
    TrackingStatus.delivered: 5,
}
DEPARTURE_SCANS = frozenset({TrackingStatus.transit, TrackingStatus.delivered})


@dataclass(frozen=True)
class SeenScan:
    occurred_at: datetime  # the carrier's own clock
    status: TrackingStatus


def carrier_status(scans: Iterable[SeenScan]) -> TrackingStatus | None:
    """What the carrier says now: its latest scan by the carrier's clock, not by arrival."""
    latest = max(scans, key=lambda scan: (scan.occurred_at, _JOURNEY_RANK[scan.status]), default=None)
    return latest.status if latest else None


def has_departed(scans: Iterable[SeenScan]) -> bool:
    """A scan proves the parcel left the shopper: accepted, in transit or delivered (never
    UNKNOWN, FAILURE or RETURNED alone)."""
    return any(scan.status in DEPARTURE_SCANS for scan in scans)


def has_been_delivered(scans: Iterable[SeenScan]) -> bool:
    return any(scan.status is TrackingStatus.delivered for scan in scans)


# --- Eligibility ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Assessment:
    declined: dict[str, DeclineReason]  # line id -> why it can't be returned
    categories: dict[str, str]  # line id -> category, from the order
    review_reason: str | None  # why an operator must approve first, if they must


def assess(
    request: ReturnRequest, order: OrderFacts, policy: ReturnPolicy, now: datetime, *, prices_from_order: bool = True
) -> Assessment:
    """Decides, per line, whether it may be returned, and whether the return needs review.

    Prices are what the order says was paid for each line, in the order's currency (returns
    started before MONEY_FROM_THE_ORDER used the request's: `prices_from_order=False`).
    """
    ordered = {line.line_id: line for line in order.lines}
    categories = {line.line_id: line.category for line in order.lines}
    currency = order.currency if prices_from_order else request.currency
    if not policy.prices(currency):
        declined = dict.fromkeys((line.line_id for line in request.lines), DeclineReason.currency_not_priced)
        return Assessment(declined=declined, categories=categories, review_reason=None)

    def paid(line: ReturnLine) -> int:
        bought = ordered.get(line.line_id)
        return bought.unit_price if prices_from_order and bought else line.unit_price or 0

    window_closed = order.delivered_at is not None and now > order.delivered_at + timedelta(
        days=policy.return_window_days
    )
    keep_it_below = policy.priced(policy.keep_it_below, currency)
    declined: dict[str, DeclineReason] = {}
    for line in request.lines:
        bought = ordered.get(line.line_id)
        if bought is None or bought.sku != line.sku:
            declined[line.line_id] = DeclineReason.not_in_order
        elif line.unit_price is not None and line.unit_price > bought.unit_price:
            declined[line.line_id] = DeclineReason.price_mismatch
        elif request.method not in policy.allowed_methods or (
            request.method is ReturnMethod.keep_it and paid(line) * line.quantity >= keep_it_below
        ):
            declined[line.line_id] = DeclineReason.method_not_allowed
        elif (
            not bought.returnable
            or line.sku in policy.non_returnable_skus
            or bought.category in policy.non_returnable_categories
        ):
            declined[line.line_id] = DeclineReason.non_returnable
        elif window_closed and not request.return_to_origin:
            declined[line.line_id] = DeclineReason.outside_return_window
        elif line.quantity > bought.quantity:
            declined[line.line_id] = DeclineReason.quantity_exceeded

    value = sum(paid(line) * line.quantity for line in request.lines if line.line_id not in declined)
    review_over = policy.priced(policy.review.amount_over, currency)
    review_reason = None
    if value > review_over:
        review_reason = f"value {value} is over the review threshold {review_over}"
    elif order.customer_return_count > policy.review.customer_returns_over:
        review_reason = f"customer has {order.customer_return_count} earlier returns"
    return Assessment(declined=declined, categories=categories, review_reason=review_reason)


def ships_a_parcel(method: ReturnMethod) -> bool:
    """Whether the return's parcel travels with a carrier (the return shipping fee applies)."""
    return method in _SHIPPED_METHODS


# A carrier needs notice to send a courier, and books only so far ahead.
PICKUP_NOTICE = timedelta(hours=2)
PICKUP_BOOKABLE_AHEAD = timedelta(days=14)


def pickup_window_problem(window: PickupWindow, now: datetime, ship_by: datetime) -> str | None:
    """Why a carrier can't be sent for the parcel in `window`, or None: it must start with the
    carrier's notice, within what it books ahead, and end before the return's ship-by deadline."""
    if window.start < now + PICKUP_NOTICE:
        return f"a pickup must start at least {PICKUP_NOTICE.seconds // 3600} hours from now"
    if window.start > now + PICKUP_BOOKABLE_AHEAD:
        return f"a pickup can be booked at most {PICKUP_BOOKABLE_AHEAD.days} days ahead"
    if window.end > ship_by:
        return f"the pickup must be over by the ship-by deadline, {ship_by:%Y-%m-%d %H:%M} UTC"
    return None


def qualifies_for_instant_refund(
    request: ReturnRequest, value: int, customer_return_count: int, policy: ReturnPolicy, currency: str
) -> bool:
    rule = policy.instant_refund
    return (
        rule.enabled
        and request.method in _SHIPPED_METHODS
        and value <= policy.priced(rule.max_amount, currency)
        and customer_return_count <= rule.max_customer_returns
    )


# --- Inspection and disposition --------------------------------------------------------------


def disposition_for(
    grade: Grade, category: str | None, unit_price: int, policy: ReturnPolicy, currency: str
) -> Disposition | None:
    """What happens to an inspected item; None when nothing of ours came back."""
    rule = policy.dispositions
    if grade in (Grade.wrong_item, Grade.missing):
        return None
    if category in rule.destroy_categories:
        return Disposition.destroy
    if grade in _RESELLABLE:
        return Disposition.restock
    if category in rule.return_to_vendor_categories:
        return Disposition.return_to_vendor
    if grade is Grade.c:
        if category in rule.donate_categories:
            return Disposition.donate
        return (
            Disposition.liquidate
            if unit_price < policy.priced(rule.liquidate_below, currency)
            else Disposition.refurbish
        )
    return Disposition.recycle


def reception_after_inspection(line: LineStatus, grade: Grade, receipts_recorded: bool) -> Reception:
    if grade is Grade.wrong_item:
        return Reception.wrong_item_received
    if grade is Grade.missing:
        return Reception.not_shipped if line.received_quantity == 0 else Reception.short_shipped
    if receipts_recorded and line.received_quantity < line.quantity:
        return Reception.short_shipped
    return Reception.received


def reception_after_receipt(line: LineStatus, quantity: int, *, wrong_item: bool) -> dict[str, object]:
    """A line's counts after a parcel's receipt. Wrong items are counted apart, so the line's
    reception follows from its counts, whatever order its parcels' receipts came in."""
    received = line.received_quantity + (0 if wrong_item else quantity)
    wrong = line.wrong_item_quantity + (quantity if wrong_item else 0)
    reception = Reception.received if received else Reception.wrong_item_received if wrong else line.reception
    return {"received_quantity": received, "wrong_item_quantity": wrong, "reception": reception}


def units_back(line: LineStatus, receipts_recorded: bool) -> int:
    """Units that actually came back: the receipts' count when the warehouse sent receipts."""
    return min(line.quantity, line.received_quantity) if receipts_recorded else line.quantity


# --- Money ------------------------------------------------------------------------------------


def is_refundable(grade: Grade, reason: ReasonCode) -> bool:
    """The older rules: resellable items are refunded; damaged ones only when the shopper declared a shop fault."""
    if grade in _RESELLABLE:
        return True
    if grade in (Grade.c, Grade.d):
        return reason in SHOP_AT_FAULT
    return False  # wrong_item or missing: nothing of ours came back


# A declared shop fault the grade itself bears out; `not_as_described` and `wrong_item` need the
# inspector's own finding (`LineInspection.fault_confirmed`).
_FAULT_SHOWN_BY_DAMAGE = frozenset({ReasonCode.defective, ReasonCode.damaged_in_transit})


def fault_confirmed(reason: ReasonCode, grade: Grade, finding: bool | None) -> bool:
    """Whether the inspection agrees the shop was at fault: the inspector said so, or the item came
    back damaged and the shopper said it was defective or damaged on its way."""
    if reason not in SHOP_AT_FAULT or grade in (Grade.wrong_item, Grade.missing):
        return False
    if finding is not None:
        return finding
    return reason in _FAULT_SHOWN_BY_DAMAGE and grade in (Grade.c, Grade.d)


def outcome_of(line: LineStatus, policy: ReturnPolicy) -> GradeOutcome:
    """What an inspected line earns back under the policy's per-grade outcomes."""
    if line.fault_confirmed:
        return policy.shop_fault
    if line.grade in (Grade.wrong_item, Grade.missing) or policy.grade_outcomes is None:
        return GradeOutcome(refund_bp=0)
    return policy.grade_outcomes.get(line.grade, GradeOutcome(refund_bp=0))


def earns_something(line: LineStatus, policy: ReturnPolicy) -> bool:
    """Whether an inspected line earns the shopper anything back (refund, credit or exchange)."""
    if line.grade is None:
        return False
    if policy.grade_outcomes is None:  # the older rules
        return is_refundable(line.grade, line.reason)
    return outcome_of(line, policy).refund_bp > 0


@dataclass(frozen=True)
class Settlement:
    gross: int  # value of what earns money back
    fees: int  # restocking and return shipping fees
    net: int  # what the shopper gets: gross - fees, never below zero


def settle(
    lines: Iterable[LineStatus], policy: ReturnPolicy, *, shipped: bool, receipts_recorded: bool, currency: str
) -> Settlement:
    """Money owed for inspected lines (grade set), after fees, in `currency`'s minor unit, rounded
    down to what Stripe can refund in it."""
    if policy.grade_outcomes is None:
        return _settle_by_the_older_rules(lines, policy, shipped, receipts_recorded, currency)
    gross = fees = 0
    shop_at_fault = False
    for line in lines:
        if line.declined or line.grade is None:
            continue
        outcome = outcome_of(line, policy)
        earned = line.unit_price * units_back(line, receipts_recorded) * outcome.refund_bp // 10_000
        gross += earned
        fees += earned * outcome.fee_bp // 10_000
        shop_at_fault = shop_at_fault or bool(line.fault_confirmed)
    if shipped and gross and not shop_at_fault:
        fees += policy.priced(policy.return_shipping_fee, currency)
    fees = min(fees, gross)
    return Settlement(gross=gross, fees=fees, net=refundable(gross - fees, currency))


def _settle_by_the_older_rules(
    lines: Iterable[LineStatus], policy: ReturnPolicy, shipped: bool, receipts_recorded: bool, currency: str
) -> Settlement:
    """Policies without per-grade outcomes (returns started before): C and D are refunded in full
    when the shopper declared a shop fault, nothing otherwise; a declared fault waives every fee."""
    gross = fees = 0
    shop_at_fault = False
    fee_by_grade = policy.fees_by_grade()
    for line in lines:
        if line.declined or line.grade is None or not is_refundable(line.grade, line.reason):
            continue
        value = line.unit_price * units_back(line, receipts_recorded)
        gross += value
        if line.reason in SHOP_AT_FAULT:
            shop_at_fault = True
        else:
            fees += value * fee_by_grade.get(line.grade, 0) // 10_000
    if shipped and gross and not shop_at_fault:
        fees += policy.priced(policy.return_shipping_fee, currency) or 0
    return Settlement(gross=gross, fees=min(fees, gross), net=max(gross - fees, 0))


def settle_unseen(lines: Iterable[LineStatus], policy: ReturnPolicy, *, shipped: bool, currency: str) -> Settlement:
    """Money owed without inspection (keep-it, instant refund, lost parcel): as if graded A."""
    assumed = [line.model_copy(update={"grade": Grade.a}) for line in lines if not line.declined]
    return settle(assumed, policy, shipped=shipped, receipts_recorded=False, currency=currency)


# --- Currencies --------------------------------------------------------------------------------
# Amounts are integers in each currency's minor unit (ISO 4217): 2 decimals unless listed here.
MINOR_UNIT_EXPONENT = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI"), 0),
    **dict.fromkeys(("VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
# Stripe refunds some currencies only in steps of more than one minor unit: three-decimal ones in
# tens (the last digit 0), and ISK, which it counts in hundredths of a krona, in whole krónur.
_STRIPE_STEP = {**dict.fromkeys(("BHD", "JOD", "KWD", "OMR", "TND"), 10)}


def minor_unit_exponent(currency: str) -> int:
    return MINOR_UNIT_EXPONENT.get(currency, 2)


def refundable(amount: int, currency: str) -> int:
    """`amount` (minor units), rounded down to what Stripe can refund in `currency`; never below 0."""
    step = _STRIPE_STEP.get(currency, 1)
    return max(amount, 0) // step * step


# Stripe's refund lifecycle: pending (or requires_action) -> succeeded -> failed; canceled ends it too.
_REFUND_PROGRESS = {
    RefundState.pending: 0,
    RefundState.requires_action: 1,
    RefundState.succeeded: 2,
    RefundState.canceled: 3,
    RefundState.failed: 4,
}


def later_refund_state(known: RefundState, reported: RefundState) -> RefundState:
    """Whichever is further along: a late or repeated report never moves a refund back."""
    return reported if _REFUND_PROGRESS[reported] > _REFUND_PROGRESS[known] else known


def with_bonus(amount: int, bonus_bp: int) -> int:
    return amount + amount * bonus_bp // 10_000
