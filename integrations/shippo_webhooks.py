"""Shippo `track_updated` webhooks: authenticate the request, then read it tolerantly.

Carriers' tracking vocabulary is open: new statuses and substatus codes appear and fields
go missing, and the SDK's models raise on all of that. These models take whatever comes:
an unknown status becomes UNKNOWN, an unknown substatus code is kept as text, a missing
field is None. Shippo retries deliveries, so a scan's `event_id` is derived from the
carrier event itself: a redelivery carries the same id, and its return counts it once.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from integrations.errors import WebhookSignatureError

TRACK_UPDATED = "track_updated"
SIGNATURE_HEADER = "Shippo-Auth-Signature"
DEFAULT_TOLERANCE_SECONDS = 300
# Shippo's tracking statuses; anything else a carrier sends is read as UNKNOWN.
TRACKING_STATUSES = frozenset({"PRE_TRANSIT", "TRANSIT", "DELIVERED", "RETURNED", "FAILURE", "UNKNOWN"})


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ShippoSubstatus(_Tolerant):
    code: str | None = None
    text: str | None = None
    action_required: bool | None = None


class ShippoLocation(_Tolerant):
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None

    def describe(self) -> str | None:
        return ", ".join(part for part in (self.city, self.state, self.country) if part) or None


class ShippoTrackingEvent(_Tolerant):
    """One entry of a parcel's tracking history (Shippo's `TrackingStatus`)."""

    object_id: str | None = None
    object_created: datetime | None = None
    object_updated: datetime | None = None
    status: str = "UNKNOWN"
    status_details: str | None = None
    status_date: datetime | None = None
    substatus: ShippoSubstatus | None = None
    location: ShippoLocation | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _known_or_unknown(cls, value: object) -> str:
        status = str(value).upper()
        return status if status in TRACKING_STATUSES else "UNKNOWN"

    @field_validator("substatus", mode="before")
    @classmethod
    def _bare_code(cls, value: object) -> object:
        return {"code": value} if isinstance(value, str) else value


class ShippoTrack(_Tolerant):
    carrier: str | None = None
    tracking_number: str | None = None
    metadata: str | None = None
    transaction: str | None = None
    tracking_status: ShippoTrackingEvent | None = None


class ShippoWebhookBody(_Tolerant):
    event: str | None = None
    test: bool = False
    data: ShippoTrack | None = None


@dataclass(frozen=True)
class TrackUpdate:
    """One carrier scan of a parcel, as Shippo reported it."""

    tracking_number: str
    carrier: str | None
    metadata: str | None  # what the label or track was registered with (None: not ours)
    test: bool
    event_id: str  # the same for every redelivery of this carrier event
    status: str  # one of TRACKING_STATUSES
    occurred_at: datetime
    substatus: str | None
    location: str | None


def parse_track_updated(body: bytes | str | Mapping[str, Any]) -> TrackUpdate | None:
    """The scan a `track_updated` delivery reports, or None for other events and empty tracks.

    Raises ValueError (pydantic's ValidationError is one) for a body that is not JSON or
    whose fields have the wrong types.
    """
    if isinstance(body, bytes | str):
        parsed = ShippoWebhookBody.model_validate_json(body)
    else:
        parsed = ShippoWebhookBody.model_validate(body)
    track = parsed.data
    if parsed.event != TRACK_UPDATED or track is None or not track.tracking_number or track.tracking_status is None:
        return None
    event = track.tracking_status
    substatus = event.substatus
    return TrackUpdate(
        tracking_number=track.tracking_number,
        carrier=track.carrier,
        metadata=track.metadata,
        test=parsed.test,
        event_id=_event_id(track.tracking_number, event),
        status=event.status,
        # A scan needs a time; without any from Shippo, the time it reached us is the best there is.
        occurred_at=event.status_date or event.object_updated or event.object_created or datetime.now(UTC),
        substatus=(substatus.code or substatus.text) if substatus else None,
        location=event.location.describe() if event.location else None,
    )


def _event_id(tracking_number: str, event: ShippoTrackingEvent) -> str:
    # Only what the carrier event itself fixes, so every redelivery hashes the same.
    parts = (tracking_number, event.object_id, event.status, event.status_date and event.status_date.isoformat())
    digest = hashlib.sha256("|".join(part or "" for part in parts).encode()).hexdigest()
    return f"shippo:{digest[:40]}"


def verify_shippo_request(
    query_token: str | None,
    expected_token: str | None,
    signature_header: str | None,
    body: bytes,
    hmac_secret: str | None,
    *,
    allow_token_only: bool = False,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Raises WebhookSignatureError unless the request shows it comes from Shippo.

    The `Shippo-Auth-Signature` header (`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`)
    is what shows it: it binds the body and a time, so a captured request is good for the
    tolerance only (and a redelivered scan counts once). The URL's `?token=` is checked too when
    one is configured, but alone it shows nothing a captured URL doesn't: a request with only a
    token passes only when `allow_token_only` says so. With nothing configured, every request is refused.
    """
    if hmac_secret is None and not (allow_token_only and expected_token is not None):
        raise WebhookSignatureError(
            "no Shippo webhook HMAC secret is configured (a URL token alone is accepted only with"
            " SHIPPO_WEBHOOK_ALLOW_TOKEN_ONLY)"
        )
    if expected_token is not None and not hmac.compare_digest((query_token or "").encode(), expected_token.encode()):
        raise WebhookSignatureError("Shippo webhook token missing or wrong")
    if hmac_secret is not None:
        _verify_signature(signature_header, body, hmac_secret, tolerance_seconds, time.time() if now is None else now)


def _verify_signature(header: str | None, body: bytes, secret: str, tolerance: float, now: float) -> None:
    if not header:
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} header missing")
    pairs = [item.strip().partition("=") for item in header.split(",")]
    timestamp = next((value for name, _, value in pairs if name == "t"), "")
    signatures = [value for name, _, value in pairs if name == "v1"]
    if not timestamp.isdigit() or not signatures:
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} header malformed")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest().encode()
    if not any(hmac.compare_digest(expected, signature.encode()) for signature in signatures):
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} does not match the body")
    if abs(now - int(timestamp)) > tolerance:
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} timestamp outside the {tolerance:g} s tolerance")
