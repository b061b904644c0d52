"""Vendor webhooks: Stripe's signed refund events and Shippo's track updates."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe

from integrations.errors import WebhookSignatureError
from integrations.shippo_webhooks import parse_track_updated, verify_shippo_request
from integrations.stripe_payments import StripeRefund, from_stripe_amount, to_stripe_amount
from integrations.stripe_webhooks import StripeRefundEvent, verify_and_parse

STRIPE_SECRET = "whsec_test_0123456789"


# --- Stripe ---------------------------------------------------------------------------


def stripe_event(event_type: str, subject: dict[str, Any]) -> bytes:
    return json.dumps(
        {"id": "evt_1", "object": "event", "type": event_type, "api_version": "2024-06-20", "data": {"object": subject}}
    ).encode()


def stripe_refund(status: str = "succeeded", **fields: object) -> dict[str, Any]:
    return {
        "id": "re_1",
        "object": "refund",
        "amount": 2500,
        "currency": "usd",
        "status": status,
        "metadata": {"return_id": "R-1", "order_id": "O-1", "idempotency_key": "return:R-1:refund:1"},
        **fields,
    }


def stripe_signature(payload: bytes, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, timestamp)


@pytest.mark.parametrize("event_type", ["refund.created", "refund.updated", "charge.refund.updated"])
def test_stripe_refund_events_give_the_refund_with_its_metadata(event_type: str) -> None:
    payload = stripe_event(event_type, stripe_refund())
    assert verify_and_parse(payload, stripe_signature(payload), STRIPE_SECRET) == StripeRefundEvent(
        event_id="evt_1",
        event_type=event_type,
        refund=StripeRefund(
            refund_id="re_1",
            amount=2500,
            currency="USD",
            status="succeeded",
            failure_reason=None,
            metadata={"return_id": "R-1", "order_id": "O-1", "idempotency_key": "return:R-1:refund:1"},
        ),
    )


def test_stripe_refund_failure_carries_its_reason() -> None:
    payload = stripe_event("refund.failed", stripe_refund("failed", failure_reason="lost_or_stolen_card"))
    event = verify_and_parse(payload, stripe_signature(payload), STRIPE_SECRET)
    assert event is not None
    assert (event.refund.status, event.refund.failure_reason) == ("failed", "lost_or_stolen_card")


def test_stripe_charge_refunded_uses_the_newest_embedded_refund() -> None:
    older = stripe_refund(id="re_0", metadata={"return_id": "R-0"})
    charge = {"id": "ch_1", "object": "charge", "refunds": {"object": "list", "data": [stripe_refund(), older]}}
    payload = stripe_event("charge.refunded", charge)
    event = verify_and_parse(payload, stripe_signature(payload), STRIPE_SECRET)
    assert event is not None and (event.refund.metadata["return_id"], event.refund.refund_id) == ("R-1", "re_1")


@pytest.mark.parametrize(
    ("event_type", "subject"),
    [
        ("charge.refunded", {"id": "ch_1", "object": "charge"}),  # refunds no longer embedded
        ("payment_intent.succeeded", {"id": "pi_1", "object": "payment_intent"}),
    ],
)
def test_stripe_events_not_about_a_refund_give_none(event_type: str, subject: dict[str, Any]) -> None:
    payload = stripe_event(event_type, subject)
    assert verify_and_parse(payload, stripe_signature(payload), STRIPE_SECRET) is None


def test_a_refund_made_outside_this_system_has_no_return_in_its_metadata() -> None:
    payload = stripe_event("refund.updated", stripe_refund(metadata={}))
    event = verify_and_parse(payload, stripe_signature(payload), STRIPE_SECRET)
    assert event is not None and event.refund.metadata == {}  # the doors acknowledge and ignore it


REFUND_UPDATED = stripe_event("refund.updated", stripe_refund())


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "No Stripe-Signature header"),
        ("", "No Stripe-Signature header"),
        ("garbage", "Unable to extract timestamp"),
        (stripe_signature(REFUND_UPDATED, "whsec_other"), "No signatures found matching"),
        (stripe_signature(REFUND_UPDATED.replace(b"2500", b"9999")), "No signatures found matching"),
        (stripe_signature(REFUND_UPDATED, timestamp=int(time.time()) - 600), "Timestamp outside the tolerance zone"),
    ],
)
def test_stripe_signature_must_be_present_valid_and_recent(header: str | None, reason: str) -> None:
    with pytest.raises(WebhookSignatureError, match=reason):
        verify_and_parse(REFUND_UPDATED, header, STRIPE_SECRET)


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b"[]",
        b'"a refund"',
        b"null",
        json.dumps({"id": "evt_1", "object": "event", "type": "refund.updated"}).encode(),
        json.dumps(
            {"id": "evt_2", "object": "event", "type": "refund.updated", "data": {"object": {"id": "re_2"}}}
        ).encode(),
    ],
    ids=["nested too deeply", "an array", "a string", "null", "no data", "a refund without amount or status"],
)
def test_a_signed_body_that_is_no_readable_refund_event_is_a_value_error(payload: bytes) -> None:
    """Found by the bad-input run: these escaped as RecursionError or AttributeError (HTTP 500)."""
    with pytest.raises(ValueError):
        verify_and_parse(payload, stripe_signature(payload), STRIPE_SECRET)


def test_stripe_signature_computed_by_hand_is_accepted() -> None:
    """The header format, independent of the SDK's helper: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">."""
    payload = REFUND_UPDATED
    timestamp = str(int(time.time()))
    digest = hmac.new(STRIPE_SECRET.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    assert verify_and_parse(payload, f"t={timestamp},v1={digest}", STRIPE_SECRET) is not None


# --- Shippo: parsing ------------------------------------------------------------------


def shippo_body(**status_fields: object) -> dict[str, Any]:
    tracking_status = {
        "object_created": "2024-05-01T10:00:00Z",
        "object_updated": "2024-05-01T10:00:00Z",
        "object_id": "ts_1",
        "status": "TRANSIT",
        "status_details": "In transit to the next facility.",
        "status_date": "2024-05-01T09:58:00Z",
        "substatus": {"code": "package_accepted", "text": "Accepted", "action_required": False},
        "location": {"city": "Oakland", "state": "CA", "zip": "94607", "country": "US"},
    }
    tracking_status.update(status_fields)
    return {
        "event": "track_updated",
        "test": True,
        "data": {
            "carrier": "usps",
            "tracking_number": "9205590164917312751089",
            "metadata": "return:R-1",
            "tracking_status": {key: value for key, value in tracking_status.items() if value is not None},
            "tracking_history": [],
            "brand_new_field": {"shippo": "adds fields"},
        },
    }


def test_shippo_track_updated_gives_a_carrier_scan() -> None:
    update = parse_track_updated(json.dumps(shippo_body()).encode())
    assert update is not None
    assert (update.tracking_number, update.carrier, update.metadata, update.test) == (
        "9205590164917312751089",
        "usps",
        "return:R-1",
        True,
    )
    assert (update.status, update.substatus, update.location) == ("TRANSIT", "package_accepted", "Oakland, CA, US")
    assert update.occurred_at == datetime(2024, 5, 1, 9, 58, tzinfo=UTC)
    assert update.event_id.startswith("shippo:")


def test_shippo_unknown_status_and_substatus_are_tolerated() -> None:
    update = parse_track_updated(shippo_body(status="TELEPORTED", substatus={"code": "beamed_up", "text": "Beamed"}))
    assert update is not None
    assert (update.status, update.substatus) == ("UNKNOWN", "beamed_up")


def test_shippo_bare_substatus_and_missing_fields_are_tolerated() -> None:
    body = shippo_body(substatus="held_at_customs", location=None, status_date=None, object_updated=None)
    del body["data"]["metadata"]
    update = parse_track_updated(body)
    assert update is not None
    assert update.metadata is None
    assert (update.substatus, update.location) == ("held_at_customs", None)
    assert update.occurred_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)  # object_created, for want of better


@pytest.mark.parametrize(
    "body",
    [
        {"event": "transaction_created", "data": {}},
        {"event": "track_updated"},
        {"event": "track_updated", "data": {"carrier": "usps", "tracking_number": "1"}},
        {"event": "track_updated", "data": {"carrier": "usps", "tracking_status": {"status": "TRANSIT"}}},
    ],
)
def test_shippo_bodies_without_a_scan_give_none(body: dict[str, Any]) -> None:
    assert parse_track_updated(body) is None


def test_shippo_malformed_body_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_track_updated(b"not json")


def test_shippo_redelivery_has_the_same_event_id_and_new_events_do_not() -> None:
    body = shippo_body()
    first = parse_track_updated(body)
    redelivered = copy.deepcopy(body)
    redelivered["data"]["tracking_history"] = [body["data"]["tracking_status"]]  # the rest of the body may change
    later = parse_track_updated(shippo_body(object_id="ts_2", status="DELIVERED", status_date="2024-05-02T12:00:00Z"))
    again = parse_track_updated(json.dumps(redelivered))
    assert first is not None and again is not None and later is not None
    assert again.event_id == first.event_id
    assert later.event_id != first.event_id


# --- Shippo: authentication -----------------------------------------------------------

TOKEN = "tok_0123456789"
HMAC_SECRET = "shippo_hmac_secret"
BODY = b'{"event": "track_updated"}'


def shippo_signature(body: bytes = BODY, secret: str = HMAC_SECRET, timestamp: int | None = None) -> str:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return f"t={stamp},v1={hmac.new(secret.encode(), stamp.encode() + b'.' + body, hashlib.sha256).hexdigest()}"


def test_shippo_token_alone_is_refused_by_default() -> None:
    """A URL token alone can be replayed from a captured request and forged by whoever saw the URL."""
    with pytest.raises(WebhookSignatureError, match="HMAC secret"):
        verify_shippo_request(TOKEN, TOKEN, None, BODY, None)


def test_shippo_token_alone_where_a_setting_allows_it() -> None:
    verify_shippo_request(TOKEN, TOKEN, None, BODY, None, allow_token_only=True)
    for wrong in (None, "", "tok_wrong", TOKEN + "x"):
        with pytest.raises(WebhookSignatureError, match="token"):
            verify_shippo_request(wrong, TOKEN, None, BODY, None, allow_token_only=True)


def test_shippo_signed_header_alone_is_enough() -> None:
    """The README's setup: the HMAC secret, no token in the URL."""
    verify_shippo_request(None, None, shippo_signature(), BODY, HMAC_SECRET)


def test_shippo_token_and_hmac_together() -> None:
    verify_shippo_request(TOKEN, TOKEN, shippo_signature(), BODY, HMAC_SECRET)
    with pytest.raises(WebhookSignatureError, match="token"):
        verify_shippo_request("tok_wrong", TOKEN, shippo_signature(), BODY, HMAC_SECRET)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_shippo_request(TOKEN, TOKEN, shippo_signature(secret="other"), BODY, HMAC_SECRET)


SIGNED_AT = 1_700_000_000  # the clock the signatures below are checked against


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("v1=abc", "malformed"),
        ("t=soon,v1=abc", "malformed"),
        (f"t={SIGNED_AT}", "malformed"),
        (shippo_signature(secret="other", timestamp=SIGNED_AT), "does not match"),
        (shippo_signature(body=b"{}", timestamp=SIGNED_AT), "does not match"),
        (shippo_signature(timestamp=SIGNED_AT - 600), "tolerance"),
        (shippo_signature(timestamp=SIGNED_AT + 600), "tolerance"),
    ],
)
def test_shippo_hmac_must_be_present_valid_and_recent(header: str | None, reason: str) -> None:
    with pytest.raises(WebhookSignatureError, match=reason):
        verify_shippo_request(None, None, header, BODY, HMAC_SECRET, now=SIGNED_AT)


def test_shippo_hmac_accepts_any_matching_v1_and_a_given_clock() -> None:
    signed_at = 1_700_000_000
    header = f"t={signed_at},v1=deadbeef," + shippo_signature(timestamp=signed_at).split(",")[1]
    verify_shippo_request(None, None, header, BODY, HMAC_SECRET, now=signed_at + 60)
    with pytest.raises(WebhookSignatureError, match="tolerance"):
        verify_shippo_request(None, None, header, BODY, HMAC_SECRET, now=signed_at + 60, tolerance_seconds=30)


def test_shippo_without_token_or_secret_refuses_everything() -> None:
    with pytest.raises(WebhookSignatureError, match="configured"):
        verify_shippo_request(TOKEN, None, shippo_signature(), BODY, None)


@pytest.mark.parametrize(
    ("currency", "ours", "stripes"), [("USD", 2500, 2500), ("JPY", 800, 800), ("ISK", 1234, 123_400)]
)
def test_stripe_counts_isk_in_hundredths_of_a_krona(currency: str, ours: int, stripes: int) -> None:
    assert (to_stripe_amount(ours, currency), from_stripe_amount(stripes, currency)) == (stripes, ours)
    payload = stripe_event("refund.updated", stripe_refund(amount=stripes, currency=currency.lower()))
    event = verify_and_parse(payload, stripe_signature(payload), STRIPE_SECRET)
    assert event is not None and (event.refund.amount, event.refund.currency) == (ours, currency)
