"""After the run: what every return must show, checked against the vendors' own ledgers (what
Stripe refunded, what Shippo sold and voided, what the shop platform restocked, reserved, credited
and ordered) and against what the API says of each return.

Each broken invariant is a `Violation`; the headline counts are the issue's: lost, paid twice,
wrong amounts, double labels, leaked reservations.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from chaos.context import Context
from chaos.scenarios import Expectation, ReturnPlan
from workflows.contract import label_metadata
from workflows.vocabulary import Stage

# Invariant -> the headline it counts under.
HEADLINES = {
    "reached its expected stage": "lost",
    "one label": "double labels",
    "label voided on cancel, only then": "wrong outcomes",
    "one refund at most": "paid twice",
    "refund of the rules' amount": "wrong amounts",
    "one store credit at most": "paid twice",
    "store credit of the rules' amount": "wrong amounts",
    "exchange orders once, as the rules say": "paid twice",
    "nothing paid after a cancel": "paid after cancel",
    "restocked once per unit": "wrong outcomes",
    "work orders once, confirmed": "wrong outcomes",
    "reservation held or released, never leaked": "leaked reservations",
    "no unresolved attention": "needs attention",
    "status agrees with the ledgers": "wrong outcomes",
    "no vendor record without its return": "wrong outcomes",
    "every webhook reaches its return": "lost events",
    "one workflow per return": "wrong outcomes",
}


@dataclass(frozen=True)
class Violation:
    return_id: str
    invariant: str
    detail: str


@dataclass
class Ledgers:
    refunds: dict[str, list[dict[str, Any]]]  # return id -> Stripe refunds
    labels: dict[str, list[dict[str, Any]]]  # return id -> Shippo transactions
    voids: dict[str, list[dict[str, Any]]]  # Shippo transaction id -> its refunds (voids)
    restocks: dict[str, list[dict[str, Any]]]  # return id -> restocks
    work_orders: dict[str, list[dict[str, Any]]]
    store_credits: dict[str, list[dict[str, Any]]]
    exchange_orders: dict[str, list[dict[str, Any]]]
    reservations: dict[str, list[dict[str, Any]]]
    strays: list[str]  # records naming no return of this run

    @property
    def sizes(self) -> dict[str, int]:
        return {
            name: sum(len(v) for v in getattr(self, name).values())
            for name in ("refunds", "labels", "restocks", "work_orders", "store_credits", "exchange_orders")
        }


async def fetch_ledgers(context: Context, return_ids: set[str]) -> Ledgers:
    vendors = context.vendors

    async def get(vendor: str, path: str) -> list[dict[str, Any]]:
        return (await vendors.admin(vendor).get(path)).raise_for_status().json()

    stripe_refunds, labels, voids, restocks, work_orders, credits, exchanges, reservations = await asyncio.gather(
        get("stripe", "/_sandbox/refunds"),
        get("shippo", "/_sandbox/transactions"),
        get("shippo", "/_sandbox/refunds"),
        get("shop", "/_sandbox/restocks"),
        get("shop", "/_sandbox/work_orders"),
        get("shop", "/_sandbox/store_credits"),
        get("shop", "/_sandbox/exchange_orders"),
        get("shop", "/_sandbox/reservations"),
    )
    strays: list[str] = []

    def by(records: list[dict[str, Any]], key: Any, what: str) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            return_id = key(record)
            if return_id in return_ids:
                grouped[return_id].append(record)
            else:
                strays.append(f"{what} {record.get('id') or record.get('object_id')} names {return_id!r}")
        return grouped

    metadata_to_return = {label_metadata(return_id): return_id for return_id in return_ids}
    shippo_voids: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for void in voids:
        shippo_voids[void["transaction"]].append(void)
    return Ledgers(
        refunds=by(stripe_refunds, lambda r: (r.get("metadata") or {}).get("return_id"), "stripe refund"),
        labels=by(labels, lambda t: metadata_to_return.get(t.get("metadata")), "shippo label"),
        voids=shippo_voids,
        restocks=by(restocks, lambda r: r["reference"], "restock"),
        work_orders=by(work_orders, lambda w: w["return_id"], "work order"),
        store_credits=by(credits, lambda c: c["reference"], "store credit"),
        exchange_orders=by(exchanges, lambda x: x["reference"], "exchange order"),
        reservations=by(reservations, lambda r: r["return_id"], "reservation"),
        strays=strays,
    )


def check(plan: ReturnPlan, expected: Expectation, status: dict[str, Any] | None, ledgers: Ledgers) -> list[Violation]:
    """Every invariant of one return; an empty list when it holds them all."""
    found: list[Violation] = []
    rid = plan.return_id

    def violated(invariant: str, detail: str) -> None:
        found.append(Violation(rid, invariant, detail))

    stage = status["stage"] if status else None
    if stage != expected.stage.value:
        violated("reached its expected stage", f"expected {expected.stage.value}, is {stage or 'unreadable'}")

    labels = ledgers.labels.get(rid, [])
    if len(labels) != expected.labels:
        violated("one label", f"{len(labels)} label(s) bought, expected {expected.labels}")
    voided = [void for label in labels for void in ledgers.voids.get(label["object_id"], [])]
    if expected.label_voided and len(voided) != 1:
        violated("label voided on cancel, only then", f"{len(voided)} void(s) of a cancelled return's label")
    if not expected.label_voided and voided:
        violated("label voided on cancel, only then", f"{len(voided)} void(s) of a label in use")

    refunds = [r for r in ledgers.refunds.get(rid, []) if r["status"] in ("pending", "succeeded", "requires_action")]
    credits = ledgers.store_credits.get(rid, [])
    exchanges = ledgers.exchange_orders.get(rid, [])
    if expected.stage is Stage.cancelled and (refunds or credits or exchanges):
        violated(
            "nothing paid after a cancel",
            f"{len(refunds)} refund(s), {len(credits)} credit(s), {len(exchanges)} exchange(s)",
        )
    if len(refunds) > 1:
        violated("one refund at most", f"{len(refunds)} refunds: {[(r['id'], r['amount']) for r in refunds]}")
    refunded = sum(r["amount"] for r in refunds) or None
    if refunded != expected.refund:
        violated("refund of the rules' amount", f"refunded {refunded}, the rules give {expected.refund}")
    if len(credits) > 1:
        violated("one store credit at most", f"{len(credits)} credits: {[c['amount'] for c in credits]}")
    credited = sum(c["amount"] for c in credits) or None
    if credited != expected.store_credit:
        violated("store credit of the rules' amount", f"credited {credited}, the rules give {expected.store_credit}")
    ordered = Counter()
    for exchange in exchanges:
        ordered[exchange["sku"]] += exchange["quantity"]
    if dict(ordered) != expected.exchanges or len(exchanges) != len(expected.exchanges):
        violated("exchange orders once, as the rules say", f"ordered {dict(ordered)}, expected {expected.exchanges}")

    restocked: Counter[str] = Counter()
    for restock in ledgers.restocks.get(rid, []):
        if not restock["reversed"]:
            restocked[restock["sku"]] += restock["quantity"]
    if dict(restocked) != expected.restocks or len(ledgers.restocks.get(rid, [])) != len(expected.restocks):
        violated("restocked once per unit", f"restocked {dict(restocked)}, expected {expected.restocks}")

    orders = ledgers.work_orders.get(rid, [])
    opened = {w["line_id"]: (_disposition_of(w["kind"]), w["quantity"]) for w in orders}
    if opened != expected.work_orders or len(orders) != len(expected.work_orders):
        violated("work orders once, confirmed", f"opened {opened}, expected {expected.work_orders}")
    unconfirmed = [w["line_id"] for w in orders if w["status"] != "completed"]
    if unconfirmed:
        violated("work orders once, confirmed", f"not confirmed at the shop: {unconfirmed}")

    reservations = ledgers.reservations.get(rid, [])
    state = "none" if not reservations else "released" if all(r["released"] for r in reservations) else "held"
    if len(reservations) > 1 or state != expected.reservation:
        violated(
            "reservation held or released, never leaked",
            f"{len(reservations)} reservation(s), {state}; expected {expected.reservation}",
        )

    if status is not None:
        if status.get("attention"):
            attention = status["attention"]
            violated("no unresolved attention", f"{attention['reason']} ({attention.get('error_type')})")
        found.extend(_status_against_ledgers(rid, status, refunds, credits))
    return found


def _status_against_ledgers(
    rid: str, status: dict[str, Any], refunds: list[dict[str, Any]], credits: list[dict[str, Any]]
) -> list[Violation]:
    resolution = status.get("resolution") or {}
    shown_refund = (resolution.get("refund") or {}).get("refund_id")
    shown_credit = (resolution.get("store_credit") or {}).get("credit_id")
    problems = []
    if shown_refund != (refunds[0]["id"] if refunds else None):
        problems.append(f"status shows refund {shown_refund}, Stripe has {[r['id'] for r in refunds]}")
    if shown_credit != (credits[0]["id"] if credits else None):
        problems.append(f"status shows credit {shown_credit}, the shop has {[c['id'] for c in credits]}")
    return [Violation(rid, "status agrees with the ledgers", problem) for problem in problems]


# The shop platform names its work orders by kind; the return by disposition.
_KIND_TO_DISPOSITION = {
    "refurbishment": "refurbish",
    "liquidation": "liquidate",
    "recycling": "recycle",
    "vendor_rma": "return_to_vendor",
    "donation": "donate",
    "destruction": "destroy",
}


def _disposition_of(kind: str) -> str:
    return _KIND_TO_DISPOSITION.get(kind, kind)


def headline(violations: list[Violation]) -> dict[str, int]:
    """Returns affected per headline (a return counts once per headline)."""
    affected: dict[str, set[str]] = defaultdict(set)
    for violation in violations:
        affected[HEADLINES.get(violation.invariant, "wrong outcomes")].add(violation.return_id)
    names = ("lost", "paid twice", "wrong amounts", "double labels", "leaked reservations")
    return {name: len(affected.get(name, ())) for name in names} | {
        name: len(ids) for name, ids in affected.items() if name not in names
    }


def as_json(violations: list[Violation]) -> list[dict[str, str]]:
    return [asdict(violation) for violation in violations]
