"""The read model: what one more event changes in a return's row and its lines.

Pure functions, no database: `append` and the bulk loader both call `project`, so a store
filled either way holds the same figures. Events may arrive late or with gaps, so the
result depends on the set of events seen, not their order: the status is the one with the
highest sequence, and each step's time is the earliest event that reached it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from store.events import EventType, ReturnEvent
from workflows.rules import SHOP_AT_FAULT
from workflows.vocabulary import CLOSED_STAGES, Grade, RefundState, ReturnMethod

# the first event of any of these types sets the column
STEP_EVENTS: dict[str, frozenset[EventType]] = {
    "approved_at": frozenset({EventType.approved}),
    "label_issued_at": frozenset({EventType.label_issued}),
    "first_scan_at": frozenset({EventType.in_transit, EventType.delivered}),
    "delivered_at": frozenset({EventType.delivered}),
    "received_at": frozenset({EventType.received}),
    "inspected_at": frozenset({EventType.inspected}),
    "resolved_at": frozenset({EventType.refunded, EventType.credited, EventType.exchanged, EventType.completed}),
    "closed_at": frozenset(
        {EventType.completed, EventType.declined, EventType.cancelled, EventType.expired, EventType.closed_unresolved}
    ),
}
_SHIPPED = frozenset({ReturnMethod.mail_label.value, ReturnMethod.drop_off.value})
_CLOSED = frozenset(stage.value for stage in CLOSED_STAGES)
_INSPECTED = frozenset({Grade.a.value, Grade.b.value, Grade.c.value, Grade.d.value})
_RESELLABLE = frozenset({Grade.a.value, Grade.b.value})
_AT_FAULT = frozenset(reason.value for reason in SHOP_AT_FAULT)
DURATIONS = {  # column: (from, to)
    "request_to_first_scan_s": ("requested_at", "first_scan_at"),
    "delivered_to_inspected_s": ("delivered_at", "inspected_at"),
    "inspected_to_resolved_s": ("inspected_at", "resolved_at"),
    "request_to_resolved_s": ("requested_at", "resolved_at"),
}


def project(event: ReturnEvent, row: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The return's row after `event` (given its row before, or None), and its lines."""
    merged: dict[str, Any] = dict(row) if row else {}
    if row is None or event.sequence > row["last_sequence"]:
        merged.update(_from_status(event.data))
        merged["last_sequence"] = event.sequence
        merged["last_event_type"] = event.type.value
    merged["return_id"] = event.return_id
    merged["event_count"] = (row["event_count"] if row else 0) + 1
    merged = _stamp(merged, event)
    return merged, _with_stamps(_lines(merged["status"]), merged)


def _stamp(row: dict[str, Any], event: ReturnEvent) -> dict[str, Any]:
    """Step times and durations after one more event (the earliest event of each step wins)."""
    at = event.created_at
    row["requested_at"] = _earliest(row.get("requested_at"), at)
    for column, types in STEP_EVENTS.items():
        if event.type in types and (column != "first_scan_at" or row["method"] in _SHIPPED):
            row[column] = _earliest(row.get(column), at)
        row.setdefault(column, None)
    row["updated_at"] = max(row["updated_at"], at) if row.get("updated_at") else at
    for column, (start, end) in DURATIONS.items():
        begun, ended = row.get(start), row.get(end)
        row[column] = int((ended - begun).total_seconds()) if begun and ended else None
    return row


def _with_stamps(lines: list[dict[str, Any]], row: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{**line, "requested_at": row["requested_at"], "inspected_at": row["inspected_at"]} for line in lines]


def project_all(batch: Sequence[ReturnEvent]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The row and lines a return's events give when stored together: the same result as
    folding `project` over them in any order, with the status read once (the bulk loader)."""
    latest = max(batch, key=lambda event: event.sequence)
    row, _ = project(latest, None)
    for event in batch:
        if event is not latest:
            row = _stamp(row, event)
    row["event_count"] = len(batch)
    return row, _with_stamps(_lines(row["status"]), row)


def current_lines(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The lines a stored row (with its status) stands for: what the rollups counted for it."""
    return _with_stamps(_lines(row["status"]), row)


def _earliest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate < current else current


def _from_status(status: Mapping[str, Any]) -> dict[str, Any]:
    lines = status.get("lines") or []
    resolution = status.get("resolution") or {}
    attention = status.get("attention") or {}
    label = status.get("label")
    kept = [line for line in lines if not line.get("declined")]
    money = _money(status, resolution, lines)
    return {
        "order_id": status["order_id"],
        "customer_id": status["customer_id"],
        "method": status["method"],
        "currency": status["currency"],
        "stage": status["stage"],
        "is_open": status["stage"] not in _CLOSED,
        "resolution_kind": resolution.get("kind"),
        "policy_version": status.get("policy_version"),
        "needs_attention": bool(attention),
        "attention_step": attention.get("step"),
        "attention_error_type": attention.get("error_type"),
        "attention_since": _parse_time(attention.get("since")),
        "label_issued": label is not None,
        "label_voided": bool(status.get("label_voided")),
        # The contract's Label carries no price yet; a `cost` (minor units) is used when it does.
        "label_cost": label.get("cost") if isinstance(label, dict) else None,
        "returned_value": sum(line["unit_price"] * line["quantity"] for line in kept),
        "units_requested": sum(line["quantity"] for line in kept),
        "units_back": sum(_units_back(line, _receipts_recorded(lines)) for line in lines),
        "status": dict(status),
        **money,
    }


def _money(status: Mapping[str, Any], resolution: Mapping[str, Any], lines: list[dict[str, Any]]) -> dict[str, int]:
    figures = dict.fromkeys(
        ("refunded", "refund_pending", "refund_failed", "credited", "credit_bonus", "exchanged_value", "fees"), 0
    )
    if not resolution:
        return figures
    figures["fees"] = resolution.get("fees") or 0
    refund = resolution.get("refund")
    if refund:
        state = refund.get("status")
        if state == RefundState.succeeded.value:
            figures["refunded"] = refund["amount"]
        elif state in (RefundState.failed.value, RefundState.canceled.value):
            figures["refund_failed"] = refund["amount"]
        else:
            figures["refund_pending"] = refund["amount"]
    credit = resolution.get("store_credit")
    if credit:
        figures["credited"] = credit["amount"]
        refund_failed_over = figures["refund_failed"] > 0  # a failed refund's fallback credit has no bonus
        # The status doesn't say the credit's base: it is what was owed, gross minus fees.
        base = credit["amount"] if refund_failed_over else _gross(lines) - figures["fees"]
        figures["credit_bonus"] = max(credit["amount"] - max(base, 0), 0)
    prices = {line.get("exchange_sku"): line["unit_price"] for line in lines if line.get("exchange_sku")}
    figures["exchanged_value"] = sum(
        prices.get(exchange["sku"], 0) * exchange["quantity"]
        for exchange in resolution.get("exchanges") or []
        if exchange.get("exchange_order_id")
    )
    return figures


def _gross(lines: list[dict[str, Any]]) -> int:
    """Value of the units that earn money back (as `workflows.rules.settle` counts it)."""
    recorded = _receipts_recorded(lines)
    return sum(
        line["unit_price"] * _units_back(line, recorded)
        for line in lines
        if not line.get("declined") and _refundable(line.get("grade"), line["reason"])
    )


def _refundable(grade: str | None, reason: str) -> bool:
    return grade in _RESELLABLE or (grade in _INSPECTED and reason in _AT_FAULT)


def _receipts_recorded(lines: list[dict[str, Any]]) -> bool:
    return any(line.get("received_quantity") or line.get("wrong_item_quantity") for line in lines)


def _units_back(line: Mapping[str, Any], receipts_recorded: bool) -> int:
    """Units of ours that came back: the receipts' count when there were receipts, else the
    inspected quantity; none for a declined line, or one graded missing or wrong item."""
    if line.get("declined") or line.get("grade") in (Grade.missing.value, Grade.wrong_item.value):
        return 0
    if receipts_recorded:
        return min(line["quantity"], line.get("received_quantity") or 0)
    return line["quantity"] if line.get("grade") in _INSPECTED else 0


def _lines(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    lines = status.get("lines") or []
    recorded = _receipts_recorded(lines)
    # The first kept line of each reason, SKU and category carries the return's count for it,
    # so "returns per reason" is a plain sum, without a COUNT(DISTINCT) over the period.
    seen: set[tuple[str, Any]] = set()

    def first(kind: str, value: Any, line: Mapping[str, Any]) -> int:
        if line.get("declined") or (kind, value) in seen:
            return 0
        seen.add((kind, value))
        return 1

    return [
        {
            "counts_reason": first("reason", line["reason"], line),
            "counts_sku": first("sku", line["sku"], line),
            "counts_category": first("category", line.get("category"), line),
            "return_id": status["return_id"],
            "line_id": line["line_id"],
            "sku": line["sku"],
            "category": line.get("category"),
            "reason": line["reason"],
            "quantity": line["quantity"],
            "unit_price": line["unit_price"],
            "declined": line.get("declined"),
            "reception": line.get("reception") or "awaiting",
            "units_back": _units_back(line, recorded),
            "grade": line.get("grade"),
            "disposition": line.get("disposition"),
            "currency": status["currency"],
            "method": status["method"],
        }
        for line in lines
    ]


def _parse_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
