"""What each chaos return is: its order, what the shopper asks, what the carrier and the warehouse
will report, how its webhooks are delivered, and what it must end with.

The expected money is computed with `workflows/rules.py`, the functions the workflow itself uses,
from what the plan says the warehouse will report: the check is that faults change nothing, not
that the rules are right (their own tests do that).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Literal

import workflows.rules as rules
from workflows.models import LineStatus
from workflows.policy import OutOfStockFallback, ReturnPolicy
from workflows.vocabulary import Disposition, Grade, ReasonCode, ResolutionKind, ReturnMethod, Stage

Delivery = Literal["in_order", "reordered", "batched"]
CURRENCY = "USD"  # the orders' (chaos/vendors.py)


@dataclass(frozen=True)
class Product:
    sku: str
    category: str
    unit_price: int


# Categories chosen so every disposition of the default policy shows up (electronics go back to the
# vendor, books are donated, hygiene items destroyed, cheap damaged items liquidated).
PRODUCTS = (
    Product("TSHIRT-M-BLUE", "apparel", 2500),
    Product("JEANS-32", "apparel", 5900),
    Product("MUG-WHITE", "kitchen", 1200),
    Product("PLATE-SET", "kitchen", 900),
    Product("HEADPHONES", "electronics", 8900),
    Product("NOVEL", "books", 1500),
    Product("TOOTHBRUSH", "hygiene", 700),
    Product("DESK-LAMP", "home", 3400),
)
# Worth less than the policy's keep_it_below (800) per line: returnless refunds.
SMALL_PRODUCTS = (
    Product("SOCKS", "apparel", 400),
    Product("STICKERS", "stationery", 300),
    Product("PEN", "stationery", 250),
)
FINAL_SALE = Product("CLEARANCE-SCARF", "final_sale", 1900)
SHOPPER_REASONS = (ReasonCode.size_too_large, ReasonCode.size_too_small, ReasonCode.unwanted, ReasonCode.style)
SHOP_FAULT_REASONS = (ReasonCode.defective, ReasonCode.damaged_in_transit, ReasonCode.not_as_described)
OUTBOUND_SHIPPING = 599
# Under the policy's review threshold (50,000), so no return waits for an operator's approval.
MAX_RETURN_VALUE = 40_000

# How often each kind of return is drawn, in percent.
KINDS: dict[str, int] = {
    "refund_resellable": 18,
    "refund_graded": 14,
    "refund_pending": 5,
    "partial_parcels": 8,
    "short_shipped": 6,
    "drop_off": 5,
    "store_credit": 12,
    "exchange": 8,
    "exchange_out_of_stock": 3,
    "keep_it": 7,
    "in_store": 4,
    "cancelled_before_shipping": 7,
    "declined": 3,
}


@dataclass(frozen=True)
class LinePlan:
    line_id: str
    product: Product
    quantity: int
    reason: ReasonCode
    grade: Grade | None  # None: never inspected (keep it, cancelled, declined)
    received: int  # units the warehouse's receipts count
    exchange_sku: str | None = None


@dataclass(frozen=True)
class ReturnPlan:
    index: int
    return_id: str
    kind: str
    method: ReturnMethod
    resolution: ResolutionKind
    lines: tuple[LinePlan, ...]
    receipts: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]  # (receipt id, ((line id, units), ...))
    cancel_after_pre_transit: bool | None = None  # None: not cancelled
    refund_pending: bool = False  # Stripe answers the refund `pending`; it succeeds later (webhook)
    exchange_in_stock: bool = True
    start_twice: bool = False
    receipt_before_scans: bool = False
    scan_delivery: Delivery = "in_order"
    stripe_delivery: Delivery = "in_order"

    @property
    def order_id(self) -> str:
        return f"ORD-{self.return_id}"

    @property
    def customer_id(self) -> str:
        return f"CUS-{self.return_id}"  # one return per customer: the customer's count never sends it to review

    @property
    def order_total(self) -> int:
        return sum(line.product.unit_price * line.quantity for line in self.lines) + OUTBOUND_SHIPPING

    @property
    def cancelled(self) -> bool:
        return self.cancel_after_pre_transit is not None

    @property
    def ships(self) -> bool:
        return self.method in (ReturnMethod.mail_label, ReturnMethod.drop_off)


@dataclass(frozen=True)
class Expectation:
    """What the vendors' ledgers and the API must show once the return has settled."""

    stage: Stage
    labels: int  # Shippo transactions bought for it
    label_voided: bool
    refund: int | None  # the amount of its one Stripe refund; None: no refund
    store_credit: int | None
    exchanges: dict[str, int] = field(default_factory=dict)  # sku -> units
    restocks: dict[str, int] = field(default_factory=dict)  # sku -> units, once each
    work_orders: dict[str, tuple[str, int]] = field(default_factory=dict)  # line id -> (disposition, units)
    reservation: Literal["held", "released", "none"] = "held"

    @property
    def pays(self) -> bool:
        return bool(self.refund or self.store_credit or self.exchanges)


def plan_returns(count: int, seed: int, run_id: str) -> list[ReturnPlan]:
    """`count` returns drawn from KINDS with one seeded generator: the same seed, the same run."""
    rng = random.Random(seed)
    kinds = rng.choices(list(KINDS), weights=list(KINDS.values()), k=count)
    # Every kind at least once when there are enough returns to go round.
    if count >= len(KINDS):
        for position, kind in zip(rng.sample(range(count), len(KINDS)), KINDS, strict=True):
            kinds[position] = kind
    return [_plan(rng, index, kind, f"CH-{run_id}-{index:04d}") for index, kind in enumerate(kinds)]


def _plan(rng: random.Random, index: int, kind: str, return_id: str) -> ReturnPlan:
    method = {
        "drop_off": ReturnMethod.drop_off,
        "keep_it": ReturnMethod.keep_it,
        "in_store": ReturnMethod.in_store,
    }.get(kind, ReturnMethod.mail_label)
    resolution = ResolutionKind.refund
    if kind in ("store_credit",) or (kind in ("partial_parcels", "keep_it") and rng.random() < 0.4):
        resolution = ResolutionKind.store_credit
    if kind.startswith("exchange"):
        resolution = ResolutionKind.exchange
    lines = _lines(rng, kind, return_id)
    plan = ReturnPlan(
        index=index,
        return_id=return_id,
        kind=kind,
        method=method,
        resolution=resolution,
        lines=lines,
        receipts=_receipts(rng, kind, return_id, lines),
        cancel_after_pre_transit=(rng.random() < 0.5) if kind == "cancelled_before_shipping" else None,
        refund_pending=kind == "refund_pending",
        exchange_in_stock=kind != "exchange_out_of_stock",
        start_twice=rng.random() < 0.2,
        receipt_before_scans=kind not in ("short_shipped",) and rng.random() < 0.1,
        scan_delivery=_delivery(rng, batched=0.15),
        stripe_delivery=_delivery(rng, batched=0.15),
    )
    return plan


def _delivery(rng: random.Random, batched: float) -> Delivery:
    draw = rng.random()
    return "batched" if draw < batched else "reordered" if draw < batched + 0.4 else "in_order"


def _lines(rng: random.Random, kind: str, return_id: str) -> tuple[LinePlan, ...]:
    if kind == "declined":
        return (LinePlan("L1", FINAL_SALE, 1, ReasonCode.unwanted, None, 0),)
    if kind == "keep_it":
        products = rng.sample(SMALL_PRODUCTS, rng.randint(1, 2))
        return tuple(
            LinePlan(f"L{n}", product, 1 if product.unit_price * 2 >= 800 else rng.randint(1, 2), _reason(rng), None, 0)
            for n, product in enumerate(products, 1)
        )
    while True:
        count = (
            rng.randint(2, 3) if kind in ("refund_graded", "partial_parcels", "short_shipped") else rng.randint(1, 3)
        )
        products = rng.sample(PRODUCTS, count)
        quantities = [rng.randint(1, 3) for _ in products]
        if kind in ("partial_parcels", "short_shipped"):
            quantities[0] = max(quantities[0], 2)  # a line whose units can arrive apart, or short
        if sum(p.unit_price * q for p, q in zip(products, quantities, strict=True)) <= MAX_RETURN_VALUE:
            break
    lines = []
    for n, (product, quantity) in enumerate(zip(products, quantities, strict=True), 1):
        reason = _reason(rng, shop_at_fault=0.5 if kind == "refund_graded" else 0.15)
        grade = _grade(rng, kind)
        exchange_sku = f"{product.sku}-X{return_id.rsplit('-', 1)[-1]}" if kind.startswith("exchange") else None
        received = 0 if kind in ("cancelled_before_shipping",) else quantity
        lines.append(LinePlan(f"L{n}", product, quantity, reason, grade, received, exchange_sku))
    if kind == "cancelled_before_shipping":
        return tuple(dataclasses.replace(line, grade=None) for line in lines)
    if kind == "short_shipped":
        first, second = lines[0], lines[1]
        lines[0] = dataclasses.replace(first, received=first.quantity - 1)
        if rng.random() < 0.5:  # a second line never came at all: graded missing
            lines[1] = dataclasses.replace(second, grade=Grade.missing, received=0)
    return tuple(lines)


def _reason(rng: random.Random, shop_at_fault: float = 0.15) -> ReasonCode:
    return rng.choice(SHOP_FAULT_REASONS if rng.random() < shop_at_fault else SHOPPER_REASONS)


def _grade(rng: random.Random, kind: str) -> Grade:
    if kind in ("refund_resellable", "refund_pending", "drop_off", "in_store", "exchange_out_of_stock"):
        return rng.choice((Grade.a, Grade.a, Grade.b))
    if kind.startswith("exchange"):
        return rng.choice((Grade.a, Grade.b, Grade.c))
    return rng.choice((Grade.a, Grade.b, Grade.c, Grade.d))


def _receipts(
    rng: random.Random, kind: str, return_id: str, lines: tuple[LinePlan, ...]
) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
    arriving = [(line.line_id, line.received) for line in lines if line.received > 0]
    if kind in ("keep_it", "declined", "cancelled_before_shipping") or not arriving:
        return ()
    if kind != "partial_parcels":
        return ((f"{return_id}-P1", tuple(arriving)),)
    # Two parcels: the first line's units split between them, the other lines in one or the other.
    (first_id, first_units), rest = arriving[0], arriving[1:]
    split = rng.randint(1, first_units - 1)
    parcel_one, parcel_two = [(first_id, split)], [(first_id, first_units - split)]
    for line in rest:
        (parcel_one if rng.random() < 0.5 else parcel_two).append(line)
    return ((f"{return_id}-P1", tuple(parcel_one)), (f"{return_id}-P2", tuple(parcel_two)))


# --- What it must end with -----------------------------------------------------------------------


def expectation(plan: ReturnPlan, policy: ReturnPolicy) -> Expectation:
    if plan.kind == "declined":
        return Expectation(Stage.declined, 0, False, None, None, reservation="none")
    if plan.cancelled:
        return Expectation(Stage.cancelled, 1, True, None, None, reservation="released")
    statuses = [_line_status(line) for line in plan.lines]
    labels = 1 if plan.ships else 0
    if plan.method is ReturnMethod.keep_it:
        settlement = rules.settle_unseen(statuses, policy, shipped=False, currency=CURRENCY)
        refund, credit = _money(plan, policy, settlement.net)
        return Expectation(Stage.completed, labels, False, refund, credit)
    receipts_recorded = bool(plan.receipts)
    restocks: dict[str, int] = {}
    work_orders: dict[str, tuple[str, int]] = {}
    for line in statuses:
        disposition = rules.disposition_for(line.grade, line.category, line.unit_price, policy, CURRENCY)
        units = rules.units_back(line, receipts_recorded)
        if disposition is None or units == 0:
            continue
        if disposition is Disposition.restock:
            restocks[line.sku] = units
        else:
            work_orders[line.line_id] = (disposition.value, units)
    if plan.resolution is ResolutionKind.exchange:
        return _exchange_expectation(plan, policy, statuses, receipts_recorded, labels, restocks, work_orders)
    settlement = rules.settle(
        statuses, policy, shipped=plan.ships, receipts_recorded=receipts_recorded, currency=CURRENCY
    )
    refund, credit = _money(plan, policy, settlement.net)
    return Expectation(Stage.completed, labels, False, refund, credit, {}, restocks, work_orders)


def _money(plan: ReturnPlan, policy: ReturnPolicy, net: int) -> tuple[int | None, int | None]:
    if net == 0:
        return None, None
    if plan.resolution is ResolutionKind.store_credit:
        return None, rules.with_bonus(net, policy.store_credit_bonus_bp)
    return net, None


def _exchange_expectation(
    plan: ReturnPlan,
    policy: ReturnPolicy,
    statuses: list[LineStatus],
    receipts_recorded: bool,
    labels: int,
    restocks: dict[str, int],
    work_orders: dict[str, tuple[str, int]],
) -> Expectation:
    exchanges: dict[str, int] = {}
    fallback = 0
    for line in statuses:
        if not rules.earns_something(line, policy) or line.exchange_sku is None:
            continue
        units = rules.units_back(line, receipts_recorded)
        if plan.exchange_in_stock:
            exchanges[line.exchange_sku] = units
        else:
            fallback += line.unit_price * units
    refund = credit = None
    if fallback and policy.exchange_out_of_stock is OutOfStockFallback.refund:
        refund = fallback
    elif fallback:
        credit = fallback
    return Expectation(Stage.completed, labels, False, refund, credit, exchanges, restocks, work_orders)


def _line_status(line: LinePlan) -> LineStatus:
    return LineStatus(
        line_id=line.line_id,
        sku=line.product.sku,
        quantity=line.quantity,
        unit_price=line.product.unit_price,
        reason=line.reason,
        category=line.product.category,
        exchange_sku=line.exchange_sku,
        grade=line.grade,
        # as the workflow records an inspection that names no finding of its own
        fault_confirmed=rules.fault_confirmed(line.reason, line.grade, None) if line.grade else None,
        received_quantity=line.received,
    )
