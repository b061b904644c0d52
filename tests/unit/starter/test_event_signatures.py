"""The signature on deliveries of return events, as a receiver verifies it with the client library."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from starter.event_signatures import EventSignatureError, signature_header, verify_event, verify_signature
from store.events import EventType, ReturnEvent

NOW = 1_767_225_600
EVENT = ReturnEvent(
    id="evt_R-1_3",
    type=EventType.approved,
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
    return_id="R-1",
    sequence=3,
    data={"return_id": "R-1", "stage": "approved"},
)
BODY = EVENT.model_dump_json().encode()


def test_the_signature_is_the_hmac_sha256_of_timestamp_dot_body() -> None:
    header = signature_header(BODY, ["whsec_a"], timestamp=NOW)
    expected = hmac.new(b"whsec_a", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"
    assert verify_event(BODY, header, "whsec_a", now=NOW) == EVENT


def test_during_a_rotation_either_secret_verifies() -> None:
    header = signature_header(BODY, ["whsec_new", "whsec_old"], timestamp=NOW)
    assert header.count("v1=") == 2
    for secret in ("whsec_new", "whsec_old"):
        assert verify_signature(BODY, header, secret, now=NOW) == NOW
    with pytest.raises(EventSignatureError, match="no signature matches"):
        verify_signature(BODY, header, "whsec_other", now=NOW)


@pytest.mark.parametrize(
    ("body", "header", "now", "problem"),
    [
        (BODY.replace(b"approved", b"refunded"), None, NOW, "no signature matches"),
        (BODY, None, NOW + 301, "more than 300 s"),
        (BODY, None, NOW - 301, "more than 300 s"),
        (BODY, "v1=abc", NOW, "not t=<unix>,v1=<hex>"),
        (BODY, f"t={NOW}", NOW, "not t=<unix>,v1=<hex>"),
        (BODY, "t=soon,v1=abc", NOW, "not t=<unix>,v1=<hex>"),
        (b'{"not": "an event"}', "sign", NOW, "not a return event"),
    ],
)
def test_a_tampered_late_or_malformed_delivery_is_refused(body: bytes, header: str | None, now: int, problem: str):
    if header is None or header == "sign":
        header = signature_header(body if header == "sign" else BODY, ["whsec_a"], timestamp=NOW)
    with pytest.raises(EventSignatureError, match=problem):
        verify_event(body, header, "whsec_a", now=now)


def test_the_tolerance_is_the_receivers_choice() -> None:
    header = signature_header(BODY, ["whsec_a"], timestamp=NOW)
    assert verify_signature(BODY, header, "whsec_a", now=NOW + 3600, tolerance=7200) == NOW
