"""Synthetic returns for demos and benchmarks: realistic mixes of reasons, methods,
outcomes, grades and currencies, spread over time, as the events the workflow appends.

    python -m store.generate --returns 1000 [--url sqlite:///.run/returns.db] [--days 365] [--seed 7]
        [--end 2025-06-30] [--via append|bulk]

Money follows the workflow's own rules (`workflows.rules`: settlement, fees, dispositions)
under a fixed demo policy. Returns whose next step would fall after `--end` stay open
at the stage they reached, so the mix includes returns in flight.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog

from store.events import API_VERSION, EventType, ReturnEvent, event_id
from workflows import rules
from workflows.models import LineStatus
from workflows.policy import DispositionRule, ReturnPolicy
from workflows.vocabulary import Grade, Stage

log = structlog.get_logger("store.generate")

POLICY = ReturnPolicy(
    version="synthetic-1",
    restocking_fee_bp_by_grade={Grade.b: 1_000},
    return_shipping_fee=595,
    keep_it_below=2_500,
    store_credit_bonus_bp=1_000,
    dispositions=DispositionRule(
        return_to_vendor_categories=frozenset({"electronics"}),
        donate_categories=frozenset({"books"}),
        destroy_categories=frozenset({"beauty"}),
        liquidate_below=1_500,
    ),
)

# category: (share of lines, price range in minor units, reason weights)
_FIT = {"size_too_small": 22, "size_too_large": 20, "style": 12, "color": 6, "unwanted": 15}
_QUALITY = {"defective": 15, "not_as_described": 10, "damaged_in_transit": 6, "wrong_item": 4, "other": 4}
CATEGORIES: dict[str, tuple[int, tuple[int, int], dict[str, int]]] = {
    "apparel": (34, (1_500, 12_000), {**_FIT, "defective": 4, "not_as_described": 6, "wrong_item": 2, "other": 3}),
    "shoes": (16, (3_000, 18_000), {**_FIT, "defective": 5, "damaged_in_transit": 2, "wrong_item": 2, "other": 2}),
    "electronics": (12, (2_000, 60_000), {"unwanted": 18, **_QUALITY, "defective": 30}),
    "home": (12, (800, 25_000), {"unwanted": 20, "style": 10, "color": 6, **_QUALITY}),
    "beauty": (8, (500, 6_000), {"unwanted": 25, "color": 10, **_QUALITY}),
    "toys": (7, (700, 9_000), {"unwanted": 20, **_QUALITY}),
    "books": (6, (600, 4_000), {"unwanted": 25, **_QUALITY}),
    "sports": (5, (1_200, 30_000), {**_FIT, **_QUALITY}),
}
CURRENCIES = {"USD": 55, "EUR": 25, "GBP": 12, "CAD": 5, "JPY": 3}
METHODS = {"mail_label": 62, "drop_off": 18, "in_store": 12, "keep_it": 8}
RESOLUTIONS = {"refund": 70, "store_credit": 20, "exchange": 10}
GRADES = {"A": 50, "B": 24, "C": 12, "D": 8, "missing": 3, "wrong_item": 3}


def _choice(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass(frozen=True)
class Catalog:
    skus: list[tuple[str, str, int]]  # sku, category, price
    weights: list[float]

    @classmethod
    def build(cls, rng: random.Random, size: int = 500) -> Catalog:
        skus = []
        names = list(CATEGORIES)
        shares = [CATEGORIES[name][0] for name in names]
        for index in range(size):
            category = rng.choices(names, weights=shares)[0]
            low, high = CATEGORIES[category][1]
            skus.append((f"SKU-{category[:3].upper()}-{index:04d}", category, rng.randrange(low, high, 50)))
        # a few SKUs sell (and come back) far more than the rest
        weights = [1.0 / (rank + 1) ** 0.8 for rank in range(size)]
        return cls(skus, weights)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S") + (f".{at.microsecond:06d}" if at.microsecond else "") + "Z"


class _Return:
    """One return's status as the workflow would show it, snapshotted at each event."""

    def __init__(self, return_id: str, base: dict[str, Any]) -> None:
        self.status = base
        self.events: list[tuple[EventType, datetime, dict[str, Any]]] = []
        self.return_id = return_id
        self.kind = "refund"  # the resolution the shopper asked for

    def emit(self, kind: EventType, at: datetime, detail: str, stage: Stage | None = None, actor: str = "system"):
        if stage is not None:
            self.status["stage"] = stage.value
        self.status["timeline"] = [
            *self.status["timeline"],
            {"at": _iso(at), "stage": self.status["stage"], "actor": actor, "detail": detail},
        ]
        # nested values are replaced, never mutated, so a shallow copy is a snapshot
        self.events.append((kind, at, {**self.status, "lines": list(self.status["lines"])}))

    def set_line(self, index: int, **changes: Any) -> None:
        lines = list(self.status["lines"])
        lines[index] = {**lines[index], **changes}
        self.status["lines"] = lines


def _line(line_id: str, sku: str, category: str, price: int, quantity: int, reason: str, exchange: str | None):
    return {
        "line_id": line_id,
        "sku": sku,
        "quantity": quantity,
        "unit_price": price,
        "reason": reason,
        "category": category,
        "exchange_sku": exchange,
        "declined": None,
        "reception": "awaiting",
        "received_quantity": 0,
        "wrong_item_quantity": 0,
        "grade": None,
        "disposition": None,
        "disposition_override_reason": None,
        "disposition_work_id": None,
        "restock_reversed": False,
    }


def synthesize(
    rng: random.Random, catalog: Catalog, index: int, requested_at: datetime, end: datetime, customers: int
) -> list[ReturnEvent]:
    """One return's events, from its request to wherever it is at `end`."""
    return_id = f"SYN-{index:08d}"
    currency = _choice(rng, CURRENCIES)
    method = _choice(rng, METHODS)
    resolution_kind = _choice(rng, RESOLUTIONS)
    # repeat returners: one customer in a hundred makes a fifth of the returns
    pool = customers if rng.random() < 0.8 else max(customers // 100, 1)
    customer = rng.randrange(pool)
    lines = []
    for number in range(1, 1 + rng.choices((1, 2, 3), weights=(70, 22, 8))[0]):
        sku, category, price = rng.choices(catalog.skus, weights=catalog.weights)[0]
        if currency == "JPY":
            price = price // 100 * 100  # yen have no minor unit: whole amounts only
        reason = _choice(rng, CATEGORIES[category][2])
        exchange = f"{sku}-V{rng.randint(1, 4)}" if resolution_kind == "exchange" else None
        lines.append(
            _line(f"L{number}", sku, category, price, rng.choices((1, 2), weights=(85, 15))[0], reason, exchange)
        )
    if method == "keep_it":
        lines = [{**line, "quantity": 1, "unit_price": min(line["unit_price"], 2_400)} for line in lines[:1]]
    status = {
        "return_id": return_id,
        "order_id": f"ORD-{index:08d}",
        "customer_id": f"CUS-{customer:07d}",
        "stage": "requested",
        "method": method,
        "currency": currency,
        "lines": lines,
        "label": None,
        "label_voided": False,
        "tracking_status": None,
        "inspected_by": None,
        "resolution": None,
        "attention": None,
        "deadlines": {},
        "policy_version": POLICY.version,
        "timeline": [],
    }
    ret = _Return(return_id, status)
    ret.kind = resolution_kind
    clock = requested_at

    def later(hours: float) -> datetime | None:
        nonlocal clock
        clock = clock + timedelta(hours=hours)
        return clock if clock <= end else None

    ret.emit(
        EventType.requested, clock, "return requested", Stage.requested, actor=f"storefront:{status['customer_id']}"
    )
    roll = rng.random()
    if roll < 0.04:  # nothing eligible
        why = rng.choice(["outside_return_window", "non_returnable", "quantity_exceeded"])
        for i in range(len(lines)):
            ret.set_line(i, declined=why)
        if later(0.01):
            ret.emit(EventType.declined, clock, f"no eligible line: {why}", Stage.declined)
        return _events(ret)
    if len(lines) > 1 and rng.random() < 0.08:
        ret.set_line(len(lines) - 1, declined="outside_return_window")
    if rng.random() < 0.06:
        if not later(0.01):
            return _events(ret)
        ret.emit(EventType.needs_review, clock, "manual review: value over threshold", Stage.needs_review)
        if not later(rng.uniform(1, 30)):
            return _events(ret)
        if rng.random() < 0.15:
            for i in range(len(lines)):
                ret.set_line(i, declined="rejected_by_operator")
            ret.emit(EventType.declined, clock, "rejected: suspicious", Stage.declined, actor="operator:kim")
            return _events(ret)
    if not later(0.02):
        return _events(ret)
    ret.emit(EventType.approved, clock, "approved", Stage.approved)
    open_lines = [i for i, line in enumerate(ret.status["lines"]) if not line["declined"]]

    if method == "keep_it":
        return _resolve(rng, ret, open_lines, later, keep_it=True)
    if rng.random() < 0.03:  # the shopper changes their mind before shipping
        if later(rng.uniform(1, 48)):
            ret.emit(EventType.cancelled, clock, "cancelled: changed my mind", Stage.cancelled, actor="shopper")
        return _events(ret)
    if method in ("mail_label", "drop_off"):
        if not later(0.03):
            return _events(ret)
        tracking = f"TRK{index:010d}"
        status["label"] = {
            "transaction_id": f"tx_{index:08d}",
            "label_url": f"https://labels.example/{index}.pdf",
            "qr_code_url": f"https://labels.example/{index}.png" if method == "drop_off" else None,
            "tracking_number": tracking,
            "carrier": "usps",
        }
        ret.emit(EventType.label_issued, clock, f"label bought, tracking {tracking}", Stage.label_issued)
        if rng.random() < 0.05:  # never shipped
            if later(POLICY.deadlines.ship_by_days * 24):
                status["label_voided"] = True
                ret.emit(EventType.expired, clock, "nothing shipped by the ship-by deadline", Stage.expired)
            return _events(ret)
        if not later(rng.lognormvariate(3.3, 0.7)):  # median ~1.1 days to the first scan
            return _events(ret)
        status["tracking_status"] = "TRANSIT"
        ret.emit(EventType.in_transit, clock, "carrier scan TRANSIT", Stage.in_transit, actor="carrier")
        if rng.random() < 0.02:
            if not later(POLICY.deadlines.transit_stall_days * 24):
                return _events(ret)
            status["attention"] = {
                "reason": "no carrier progress for 7 day(s)",
                "step": None,
                "error_type": "TransitStalled",
                "message": None,
                "since": _iso(clock),
            }
            ret.emit(EventType.needs_attention, clock, "needs attention: no carrier progress")
            if not later(rng.uniform(12, 96)):
                return _events(ret)
            status["attention"] = None
            ret.emit(EventType.attention_cleared, clock, "parcel moving again", actor="carrier")
        if not later(rng.uniform(40, 140)):
            return _events(ret)
        status["tracking_status"] = "DELIVERED"
        ret.emit(EventType.delivered, clock, "carrier scan DELIVERED", Stage.delivered, actor="carrier")
    else:  # in store
        if not later(rng.uniform(4, 200)):
            return _events(ret)
        ret.emit(EventType.delivered, clock, "returned in store", Stage.delivered, actor="store:front")
    if not later(rng.uniform(0.5, 24)):
        return _events(ret)
    for i in open_lines:
        quantity = ret.status["lines"][i]["quantity"]
        got = quantity - 1 if quantity > 1 and rng.random() < 0.1 else quantity
        ret.set_line(i, received_quantity=got, reception="received" if got == quantity else "short_shipped")
    ret.emit(EventType.received, clock, "parcel P-1 received", actor="warehouse:dock-7")
    if rng.random() < 0.03:
        if not later(POLICY.deadlines.inspection_sla_days * 24):
            return _events(ret)
        status["attention"] = {
            "reason": "not inspected within 3 day(s) of arrival",
            "step": None,
            "error_type": "InspectionLate",
            "message": None,
            "since": _iso(clock),
        }
        ret.emit(EventType.needs_attention, clock, "needs attention: inspection late")
    if not later(rng.uniform(6, 72)):
        return _events(ret)
    grades = []
    for i in open_lines:
        line = ret.status["lines"][i]
        grade = Grade(_choice(rng, GRADES))
        disposition = rules.disposition_for(grade, line["category"], line["unit_price"], POLICY, ret.status["currency"])
        reception = line["reception"]
        if grade is Grade.wrong_item:
            reception = "wrong_item_received"
        elif grade is Grade.missing:
            reception = "not_shipped"
        ret.set_line(i, grade=grade.value, disposition=disposition.value if disposition else None, reception=reception)
        grades.append(f"{line['line_id']}={grade.value}")
    status["attention"] = None
    status["inspected_by"] = "warehouse:dock-7"
    ret.emit(EventType.inspected, clock, f"inspected: {', '.join(grades)}", Stage.inspecting, actor="warehouse:dock-7")
    for i in open_lines:
        line = ret.status["lines"][i]
        if line["disposition"] is None or not line["received_quantity"]:
            continue
        if not later(rng.uniform(0.01, 2)):
            return _events(ret)
        work = f"WO-{index:08d}-{line['line_id']}"
        ret.set_line(i, disposition_work_id=work)
        ret.emit(
            EventType.disposition_done, clock, f"{line['line_id']}: {line['disposition']} ({work})", actor="warehouse"
        )
    return _resolve(rng, ret, open_lines, later, keep_it=False)


def _resolve(rng: random.Random, ret: _Return, open_lines: list[int], later: Any, keep_it: bool) -> list[ReturnEvent]:
    status = ret.status
    currency = status["currency"]
    line_models = [LineStatus.model_construct(**line) for line in status["lines"] if not line["declined"]]
    if keep_it:
        settlement = rules.settle_unseen(line_models, POLICY, shipped=False, currency=currency)
    else:
        shipped = status["method"] in ("mail_label", "drop_off")
        settlement = rules.settle(line_models, POLICY, shipped=shipped, receipts_recorded=True, currency=currency)
    at = later(rng.uniform(0.05, 6))
    if not at:
        return _events(ret)
    status["stage"] = Stage.resolving.value
    kind = ("refund" if rng.random() < 0.7 else "store_credit") if keep_it else ret.kind
    if rng.random() < 0.01:  # a vendor outage: the step waits for an operator's retry
        status["attention"] = {
            "reason": "step failed after retries",
            "step": "refund" if kind == "refund" else kind,
            "error_type": rng.choice(["StripeUnavailable", "ShopPlatformTimeout", "RateLimited"]),
            "message": "503 Service Unavailable",
            "since": _iso(at),
        }
        ret.emit(EventType.needs_attention, at, "needs attention: step failed", Stage.resolving)
        at = later(rng.uniform(0.5, 30))
        if not at:
            return _events(ret)
        status["attention"] = None
        ret.emit(EventType.attention_cleared, at, "retry of step: vendor back", actor="operator:kim")
    number = ret.return_id.removeprefix("SYN-")
    if kind == "exchange":
        exchanges = []
        for i in open_lines:
            line = status["lines"][i]
            if line["grade"] is None or not rules.is_refundable(Grade(line["grade"]), line["reason"]):
                continue
            in_stock = rng.random() > 0.1
            exchanges.append(
                {
                    "exchange_order_id": f"EX-{number}-{line['line_id']}" if in_stock else None,
                    "sku": line["exchange_sku"],
                    "quantity": min(line["quantity"], line["received_quantity"]),
                }
            )
        status["resolution"] = _resolution("exchange", 0, 0, exchanges=exchanges)
        ret.emit(EventType.exchanged, at, f"exchange ordered ({len(exchanges)} line(s))", Stage.resolving)
        prices = {line["exchange_sku"]: line["unit_price"] for line in status["lines"]}
        fallback = sum(prices[e["sku"]] * e["quantity"] for e in exchanges if e["exchange_order_id"] is None)
        if fallback:  # out of stock: refunded instead (the policy's exchange_out_of_stock)
            at = later(rng.uniform(0.01, 1))
            if not at:
                return _events(ret)
            refund = {
                "refund_id": f"re_{number}",
                "amount": fallback,
                "currency": currency,
                "status": "succeeded",
                "failure_reason": None,
            }
            status["resolution"] = _resolution("exchange", fallback, 0, exchanges=exchanges, refund=refund)
            ret.emit(
                EventType.refunded, at, f"out of stock: refund re_{number} of {fallback} {currency}", actor="payments"
            )
    elif kind == "store_credit" and settlement.net:
        credit = rules.with_bonus(settlement.net, POLICY.store_credit_bonus_bp)
        status["resolution"] = _resolution(
            "store_credit",
            credit,
            settlement.fees,
            store_credit={"credit_id": f"SC-{number}", "amount": credit, "currency": currency},
        )
        ret.emit(
            EventType.credited,
            at,
            f"store credit SC-{number} of {credit} {currency}",
            Stage.resolving,
            actor="payments",
        )
    elif settlement.net:
        refund = {
            "refund_id": f"re_{number}",
            "amount": settlement.net,
            "currency": currency,
            "status": "succeeded",
            "failure_reason": None,
        }
        if rng.random() < 0.015:
            refund = {**refund, "status": "failed", "failure_reason": "expired_or_canceled_card"}
            status["resolution"] = _resolution("refund", settlement.net, settlement.fees, refund=refund)
            ret.emit(EventType.refund_failed, at, f"refund re_{number} failed", Stage.resolving, actor="payments")
            at = later(rng.uniform(1, 48))
            if not at:
                return _events(ret)
            credit = {"credit_id": f"SC-{number}", "amount": settlement.net, "currency": currency}
            status["resolution"] = _resolution(
                "store_credit", settlement.net, settlement.fees, refund=refund, store_credit=credit
            )
            ret.emit(EventType.credited, at, f"store credit SC-{number} after a failed refund", actor="payments")
        else:
            status["resolution"] = _resolution("refund", settlement.net, settlement.fees, refund=refund)
            ret.emit(
                EventType.refunded,
                at,
                f"refund re_{number} of {settlement.net} {currency}: succeeded",
                Stage.resolving,
                actor="payments",
            )
    else:
        status["resolution"] = _resolution(kind, 0, settlement.fees)
    at = later(0.01)
    if at:
        ret.emit(EventType.completed, at, "return resolved", Stage.completed)
    return _events(ret)


def _resolution(kind: str, amount: int, fees: int, **parts: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "amount": amount,
        "fees": fees,
        "refund": None,
        "instant_refund": None,
        "store_credit": None,
        "exchanges": [],
        **parts,
    }


def _events(ret: _Return) -> list[ReturnEvent]:
    return [
        ReturnEvent.model_construct(
            id=event_id(ret.return_id, sequence),
            type=kind,
            api_version=API_VERSION,
            created_at=at,
            return_id=ret.return_id,
            sequence=sequence,
            data=data,
        )
        for sequence, (kind, at, data) in enumerate(ret.events, start=1)
    ]


def sales_for(catalog: Catalog, start: date, days: int, seed: int, returns_per_day: float) -> Iterator[dict[str, Any]]:
    """Units sold per day, SKU and currency, about 8 times the returned units (a 12% return
    rate overall, more for apparel and shoes, less for books)."""
    rng = random.Random(seed + 1)
    rate = {"apparel": 0.22, "shoes": 0.18, "electronics": 0.08, "home": 0.07, "beauty": 0.05}
    total = sum(catalog.weights)
    for offset in range(days):
        day = start + timedelta(days=offset)
        for (sku, category, _price), weight in zip(catalog.skus, catalog.weights, strict=True):
            expected_returned = returns_per_day * 1.4 * weight / total
            expected_sold = expected_returned / rate.get(category, 0.06)
            for currency, share in CURRENCIES.items():
                units = int(expected_sold * share / 100 + rng.random())
                if units:
                    yield {"day": day, "sku": sku, "currency": currency, "category": category, "units": units}


@dataclass(frozen=True)
class Synthetic:
    returns: int
    end: datetime
    days: int = 365
    seed: int = 7
    customers: int | None = None  # default: one customer per 3 returns
    first_index: int = 0  # return ids start at SYN-<first_index>

    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)

    def catalog(self) -> Catalog:
        return Catalog.build(random.Random(self.seed))

    def stream(self) -> Iterator[list[ReturnEvent]]:
        """Each return's events; returns are requested in time order across the span."""
        rng = random.Random(self.seed)
        catalog = self.catalog()
        customers = self.customers or max(self.returns // 3, 1)
        span = (self.end - self.start()).total_seconds()
        step = span / max(self.returns, 1)
        for index in range(self.returns):
            requested_at = self.start() + timedelta(seconds=int(index * step + rng.random() * step))
            yield synthesize(rng, catalog, self.first_index + index, requested_at, self.end, customers)

    def sales(self) -> Iterator[dict[str, Any]]:
        return sales_for(self.catalog(), self.start().date(), self.days + 1, self.seed, self.returns / self.days)


def main(argv: list[str] | None = None) -> int:
    from integrations.log_config import configure_logging
    from store.bulk import bulk_load
    from store.db import store_url
    from store.store import EventStore

    parser = argparse.ArgumentParser(prog="python -m store.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--returns", type=int, required=True)
    parser.add_argument("--url", default=store_url(), help="default: EVENT_STORE_URL or sqlite:///.run/returns.db")
    parser.add_argument("--days", type=int, default=365, help="span of request dates, ending at --end")
    parser.add_argument("--end", type=date.fromisoformat, default=None, help="default: today")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--via", choices=("append", "bulk"), default="bulk", help="append: one event at a time")
    parser.add_argument("--no-sales", action="store_true", help="don't fill units_sold")
    args = parser.parse_args(argv)
    configure_logging()
    end = datetime.combine(args.end or date.today(), datetime.min.time(), UTC)
    synthetic = Synthetic(args.returns, end=end, days=args.days, seed=args.seed)
    store = EventStore.open(args.url, migrate=True)
    started = time.perf_counter()
    try:
        if args.via == "bulk":
            counts = bulk_load(store, synthetic.stream(), sales=None if args.no_sales else synthetic.sales())
        else:
            counts = {"returns": 0, "events": 0, "sales_rows": 0}
            for batch in synthetic.stream():
                for event in batch:
                    store.append(event)
                counts["returns"] += 1
                counts["events"] += len(batch)
            if not args.no_sales:
                counts["sales_rows"] = bulk_load(store, [], sales=synthetic.sales())["sales_rows"]
    finally:
        store.close()
    seconds = time.perf_counter() - started
    log.info("store filled", url=store.engine.url.render_as_string(), seconds=round(seconds, 1), **counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
