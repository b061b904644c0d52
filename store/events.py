"""The return event: one change of a return, as stored and as sent to subscribers.

    {id, type, api_version, created_at, return_id, sequence, data}

`sequence` counts a return's events from 1; `id` is derived from the return and the
sequence, so a replayed or retried append names the same event and is stored once.
`data` is the return's public status (`workflows.models.ReturnStatus`, as JSON) at that moment.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from workflows.models import ReturnStatus
from workflows.vocabulary import Stage

API_VERSION = "2025-01-01"


class EventType(StrEnum):
    requested = "requested"
    declined = "declined"
    needs_review = "needs_review"
    approved = "approved"
    label_issued = "label_issued"
    pickup_booked = "pickup_booked"  # the carrier confirmed a pickup window (again, when the shopper moved it)
    pickup_released = "pickup_released"  # a booking given up: the shop tells the carrier its confirmation code
    in_transit = "in_transit"
    delivered = "delivered"
    received = "received"
    inspected = "inspected"
    disposition_done = "disposition_done"  # one per line
    refunded = "refunded"
    credited = "credited"
    exchanged = "exchanged"
    refund_failed = "refund_failed"
    needs_attention = "needs_attention"
    attention_cleared = "attention_cleared"
    cancelled = "cancelled"
    expired = "expired"
    completed = "completed"
    closed_unresolved = "closed_unresolved"  # an operator closed it at a step that could not be done
    closed = "closed"  # the run ended: the return's final status, which nothing changes after


# The event a move to each stage is; `resolving` is none: its events say how (refunded, credited...).
STAGE_EVENTS: dict[Stage, EventType] = {
    Stage.needs_review: EventType.needs_review,
    Stage.approved: EventType.approved,
    Stage.label_issued: EventType.label_issued,
    Stage.in_transit: EventType.in_transit,
    Stage.delivered: EventType.delivered,
    Stage.inspecting: EventType.inspected,
    Stage.completed: EventType.completed,
    Stage.declined: EventType.declined,
    Stage.cancelled: EventType.cancelled,
    Stage.expired: EventType.expired,
    Stage.failed_needs_attention: EventType.closed_unresolved,
}


def event_id(return_id: str, sequence: int) -> str:
    """The event's id: the same return and sequence always name the same event."""
    return f"evt_{return_id}_{sequence}"


class ReturnEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(max_length=100)]
    type: EventType
    api_version: Annotated[str, Field(min_length=1, max_length=32)] = API_VERSION
    created_at: AwareDatetime
    return_id: Annotated[str, Field(min_length=1, max_length=64)]
    sequence: Annotated[int, Field(ge=1, lt=2**31)]
    data: dict[str, Any]

    @classmethod
    def of(
        cls,
        event_type: EventType | str,
        status: ReturnStatus | dict[str, Any],
        sequence: int,
        created_at: datetime,
        api_version: str = API_VERSION,
    ) -> ReturnEvent:
        """Builds the event of a status change. In the workflow, `created_at` must be
        `workflow.now()`, so a replay builds the very same event."""
        data = status.model_dump(mode="json") if isinstance(status, ReturnStatus) else status
        return cls(
            id=event_id(data["return_id"], sequence),
            type=event_type,
            api_version=api_version,
            created_at=created_at,
            return_id=data["return_id"],
            sequence=sequence,
            data=data,
        )

    @field_validator("created_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _consistent(self) -> ReturnEvent:
        if self.id != event_id(self.return_id, self.sequence):
            raise ValueError(f"id must be {event_id(self.return_id, self.sequence)!r}")
        if self.data.get("return_id") != self.return_id:
            raise ValueError("data.return_id must be the event's return_id")
        return self

    def status(self) -> ReturnStatus:
        return ReturnStatus.model_validate(self.data)

    def same_content(self, other: ReturnEvent) -> bool:
        """Whether two events say the same thing (JSON key order and time zone aside)."""
        return (
            self.type == other.type
            and self.api_version == other.api_version
            and self.created_at == other.created_at
            and self.return_id == other.return_id
            and self.sequence == other.sequence
            and canonical_json(self.data) == canonical_json(other.data)
        )


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
