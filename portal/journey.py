"""What the portal's pages show and send, as plain functions: the order's lines with what may be
returned and why not, the methods and outcomes on offer, the estimate, and the request it starts.

The estimate is the workflow's own settlement (workflows/rules.py: `settle_unseen`, as if every
item comes back as new, and `with_bonus` for store credit): what the review page promises is
what the return pays when the warehouse grades the items A.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import workflows.rules as rules
from activities.models import PickupWindow
from integrations.shop import ShopAddress, ShopperOrder, ShopperOrderLine, Variant
from starter.eligibility import Eligibility
from workflows.models import LineStatus, ReturnLine, ReturnRequest
from workflows.policy import ReturnPolicy
from workflows.primitives import Address
from workflows.vocabulary import DeclineReason, ReasonCode, ResolutionKind, ReturnMethod

# The order the methods are offered in: the ones that need nothing of the shopper first.
METHODS = (
    ReturnMethod.mail_label,
    ReturnMethod.drop_off,
    ReturnMethod.pickup,
    ReturnMethod.in_store,
    ReturnMethod.keep_it,
)

# The carrier's rounds a shopper picks from, in the shop's time zone (PICKUP_TIME_ZONE): mornings and
# afternoons, Monday to Saturday, for the next week's days.
PICKUP_ROUNDS = ((time(9), time(12)), (time(13), time(17)))
PICKUP_DAYS_OFFERED = 6


@dataclass(frozen=True)
class Choice:
    """One line the shopper returns: how many, and why."""

    line_id: str
    quantity: int
    reason: ReasonCode
    exchange_sku: str | None = None  # the variant wanted instead (outcome exchange)
    photo_urls: tuple[str, ...] = ()
    comment: str | None = None  # the shopper's words about the item, on one line


@dataclass(frozen=True)
class LineOnOffer:
    """An order line as the items page shows it."""

    line: ShopperOrderLine
    returnable_units: int  # 0: can't be returned (`why_not` says why)
    why_not: DeclineReason | None = None
    in_returns: int = 0  # units already in a return
    window_closes: datetime | None = None


def lines_on_offer(
    order: ShopperOrder, eligibility: Eligibility, in_returns: dict[str, int], policy: ReturnPolicy
) -> list[LineOnOffer]:
    declined = {line.line_id: line.decline_reason for line in eligibility.lines if not line.returnable}
    closes = order.delivered_at + timedelta(days=policy.return_window_days) if order.delivered_at else None
    offered = []
    for line in order.lines:
        held = in_returns.get(line.line_id, 0)
        why_not = declined.get(line.line_id)
        units = 0 if why_not else max(line.quantity - held, 0)
        offered.append(LineOnOffer(line, units, why_not, held, closes))
    return offered


def eligibility_request(
    order: ShopperOrder, choices: list[Choice], method: ReturnMethod, contact: Address, dock: Address
) -> ReturnRequest:
    """The request the eligibility check judges (nothing starts): lines and quantities, never prices."""
    skus = {line.line_id: line.sku for line in order.lines}
    return ReturnRequest(
        return_id="portal-check",
        order_id=order.order_id,
        lines=[
            ReturnLine(
                line_id=c.line_id,
                sku=skus[c.line_id],
                quantity=c.quantity,
                reason=c.reason,
                photo_urls=list(c.photo_urls),
                comment=c.comment,
            )
            for c in choices
        ],
        customer_address=contact,
        warehouse_address=dock,
        method=method,
    )


def return_request(
    return_id: str,
    order: ShopperOrder,
    choices: list[Choice],
    method: ReturnMethod,
    resolution: ResolutionKind,
    contact: Address,
    dock: Address,
) -> ReturnRequest:
    """The request the confirmation starts: the order fills in customer, currency and prices."""
    checked = eligibility_request(order, choices, method, contact, dock)
    if resolution is ResolutionKind.exchange:
        wanted = {choice.line_id: choice.exchange_sku for choice in choices}
        lines = [line.model_copy(update={"exchange_sku": wanted[line.line_id]}) for line in checked.lines]
        checked = checked.model_copy(update={"lines": lines})
    return checked.model_copy(update={"return_id": return_id, "resolution": resolution})


def shopper_address(order: ShopperOrder, email: str | None, postal_code: str | None) -> Address | None:
    """Where the parcel leaves from (the order's shipping address), with how the shopper named the order."""
    if order.shipping_address is None:
        return None
    return _address(order.shipping_address).model_copy(update={"email": email or order.contact.email})


def dock_address(order: ShopperOrder) -> Address | None:
    return _address(order.return_address) if order.return_address else None


def _address(address: ShopAddress) -> Address:
    return Address.model_validate(asdict(address))


def in_stock_for(choice: Choice, variants: list[Variant]) -> list[Variant]:
    """The variants the shop can send instead of this line's units now."""
    return [variant for variant in variants if variant.on_hand >= choice.quantity]


def method_cost(method: ReturnMethod, policy: ReturnPolicy, currency: str) -> int:
    """What sending it back this way costs the shopper: the return shipping fee, taken off the refund."""
    return (policy.priced(policy.return_shipping_fee, currency) or 0) if rules.ships_a_parcel(method) else 0


def pickup_windows(now: datetime, ship_by: datetime, zone: ZoneInfo) -> list[PickupWindow]:
    """The pickup windows to offer: the carrier's rounds on the coming days but Sundays, each one a
    window the workflow can book (rules.pickup_window_problem), on at most PICKUP_DAYS_OFFERED days."""
    today = now.astimezone(zone).date()
    windows: list[PickupWindow] = []
    for offset in range(rules.PICKUP_BOOKABLE_AHEAD.days + 1):
        day = today + timedelta(days=offset)
        if day.weekday() == 6:
            continue
        for start, end in PICKUP_ROUNDS:
            window = PickupWindow(start=datetime.combine(day, start, zone), end=datetime.combine(day, end, zone))
            if rules.pickup_window_problem(window, now, ship_by) is None:
                windows.append(window)
        if len({window.start.date() for window in windows}) >= PICKUP_DAYS_OFFERED:
            break
    return windows


@dataclass(frozen=True)
class Estimate:
    value: int  # what the items are worth back, as new
    fees: int  # return shipping and restocking fees
    paid_out: int  # refund to the payment, or store credit with its bonus
    bonus: int  # of which store credit bonus


def estimate(
    order: ShopperOrder, choices: list[Choice], method: ReturnMethod, resolution: ResolutionKind, policy: ReturnPolicy
) -> Estimate:
    """The workflow's settlement of these lines if each comes back as new (grade A)."""
    bought = {line.line_id: line for line in order.lines}
    lines = [
        LineStatus(
            line_id=c.line_id,
            sku=bought[c.line_id].sku,
            quantity=c.quantity,
            unit_price=bought[c.line_id].unit_price,
            reason=c.reason,
            category=bought[c.line_id].category,
        )
        for c in choices
    ]
    settled = rules.settle_unseen(lines, policy, shipped=rules.ships_a_parcel(method), currency=order.currency)
    if resolution is ResolutionKind.exchange:  # the replacement instead of money, and no fee (resolution.py)
        return Estimate(value=settled.gross, fees=0, paid_out=0, bonus=0)
    paid_out = settled.net
    if resolution is ResolutionKind.store_credit:
        paid_out = rules.with_bonus(settled.net, policy.store_credit_bonus_bp)
    return Estimate(value=settled.gross, fees=settled.fees, paid_out=paid_out, bonus=paid_out - settled.net)
