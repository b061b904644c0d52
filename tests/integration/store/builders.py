"""Hand-made returns for the store's tests: a status edited step by step, each step an event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from store.events import EventType, ReturnEvent
from workflows.models import ReturnStatus


def at(text: str) -> datetime:
    """'2025-03-01 10:00' in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def line(
    line_id: str, sku: str, category: str, reason: str, quantity: int, unit_price: int, **extra: Any
) -> dict[str, Any]:
    return {
        "line_id": line_id,
        "sku": sku,
        "category": category,
        "reason": reason,
        "quantity": quantity,
        "unit_price": unit_price,
        **extra,
    }


class Script:
    """One return: `step(type, when, stage=..., **status changes)` makes its next event."""

    def __init__(
        self, return_id: str, *, customer: str, currency: str = "USD", method: str = "mail_label", lines: list
    ) -> None:
        self.status: dict[str, Any] = {
            "return_id": return_id,
            "order_id": f"O-{return_id}",
            "customer_id": customer,
            "stage": "requested",
            "method": method,
            "currency": currency,
            "lines": lines,
            "policy_version": "test-1",
            "timeline": [],
        }
        self.events: list[ReturnEvent] = []

    def step(self, kind: EventType | str, when: str, *, stage: str | None = None, **changes: Any) -> Script:
        if stage:
            self.status["stage"] = stage
        self.status.update(changes)
        moment = at(when)
        self.status["timeline"] = [
            *self.status["timeline"],
            {"at": moment, "stage": self.status["stage"], "actor": "system", "detail": str(kind)},
        ]
        status = ReturnStatus.model_validate(self.status)
        self.events.append(ReturnEvent.of(kind, status, sequence=len(self.events) + 1, created_at=moment))
        return self

    def set_lines(self, **per_line: dict[str, Any]) -> dict[str, Any]:
        """The lines with changes by line id, for `step(..., lines=...)`."""
        return {"lines": [{**item, **per_line.get(item["line_id"], {})} for item in self.status["lines"]]}


def label(number: str) -> dict[str, Any]:
    return {"transaction_id": f"tx_{number}", "label_url": None, "tracking_number": f"T{number}", "carrier": "usps"}


def refund(refund_id: str, amount: int, currency: str = "USD", status: str = "succeeded") -> dict[str, Any]:
    return {"refund_id": refund_id, "amount": amount, "currency": currency, "status": status}
