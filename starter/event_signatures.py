"""Signing and verifying the return events sent to subscribers (outbound webhooks).

Each delivery is a POST whose body is the event's JSON envelope, with these headers:

    Returns-Event-Id: evt_R-1001_7
    Returns-Event-Type: refunded
    Returns-Signature: t=1767225600,v1=5257a869...[,v1=...]

`v1` is the hex HMAC-SHA256 of `"<t>.<body>"` under the subscription's signing secret; while a
secret is being rotated both live secrets sign, one `v1` each (the scheme Stripe uses). A receiver:

    from starter.event_signatures import verify_event
    event = verify_event(body, headers["Returns-Signature"], secret)   # raises EventSignatureError

`verify_event` also refuses a timestamp further than `tolerance` from now, so a captured
delivery can't be replayed later; the event id makes a redelivery recognisable (store it).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

from store.events import ReturnEvent

EVENT_ID_HEADER = "Returns-Event-Id"
EVENT_TYPE_HEADER = "Returns-Event-Type"
SIGNATURE_HEADER = "Returns-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


class EventSignatureError(ValueError):
    """The delivery is not signed by the secret, is too old, or is not a return event."""


def signature(body: bytes, secret: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of "<timestamp>.<body>" under `secret`."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secrets: Iterable[str], timestamp: int | None = None) -> str:
    """`t=<unix>,v1=<hex>` with one v1 per live secret."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={timestamp}", *(f"v1={signature(body, secret, timestamp)}" for secret in secrets)])


def verify_signature(
    body: bytes,
    header: str,
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Checks `header` against `body` and `secret`; answers the signed timestamp."""
    parts = [part.partition("=") for part in header.split(",")]
    timestamps = [value for key, _, value in parts if key.strip() == "t"]
    candidates = [value.strip() for key, _, value in parts if key.strip() == "v1"]
    if len(timestamps) != 1 or not timestamps[0].strip().isdigit() or not candidates:
        raise EventSignatureError(f"the {SIGNATURE_HEADER} header is not t=<unix>,v1=<hex>")
    timestamp = int(timestamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise EventSignatureError(f"the signature's timestamp is more than {tolerance} s away from now")
    expected = signature(body, secret, timestamp)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise EventSignatureError("no signature matches the secret")
    return timestamp


def verify_event(
    body: bytes,
    header: str,
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> ReturnEvent:
    """The event a delivery carries, once its signature is verified (EventSignatureError otherwise)."""
    verify_signature(body, header, secret, tolerance=tolerance, now=now)
    try:
        return ReturnEvent.model_validate_json(body)
    except ValueError as error:
        raise EventSignatureError(f"the body is not a return event: {error}") from error
