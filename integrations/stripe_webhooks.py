"""Stripe webhooks: verify the signature, then read the refund each refund event is about.

Stripe signs every delivery (`Stripe-Signature: t=..,v1=..`, an HMAC-SHA256 keyed with the
endpoint's `whsec_` secret), and may deliver an event twice or out of order: the update
carries the refund's status at the time of the event, and the workflow decides what a
late or repeated one means.
"""

from __future__ import annotations

from dataclasses import dataclass

import stripe

from integrations.errors import WebhookSignatureError
from integrations.stripe_payments import StripeRefund, stripe_refund

SIGNATURE_HEADER = "Stripe-Signature"
# Events whose object is the refund itself.
_REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"})


@dataclass(frozen=True)
class StripeRefundEvent:
    event_id: str
    event_type: str
    refund: StripeRefund  # as it was when the event happened; its metadata names whose it is
    live: bool = False  # Stripe's `livemode`: false for a test-mode event


def verify_and_parse(payload: bytes, signature_header: str | None, secret: str) -> StripeRefundEvent | None:
    """Verifies a delivery and reads the refund it is about.

    Raises WebhookSignatureError when the signature is missing, wrong or older than Stripe's
    five-minute tolerance, and ValueError for a signed body that is not an event with a readable
    refund (not JSON, nested too deeply, fields missing). Answers None for events that are not
    about a refund.
    """
    try:
        event = stripe.Webhook.construct_event(payload, signature_header, secret)
    except stripe.SignatureVerificationError as error:
        raise WebhookSignatureError(f"Stripe webhook rejected: {error}") from error
    except RecursionError as error:  # verified, then parsed: only a signed body gets this far
        raise ValueError("the body is nested too deeply to read") from error
    except (AttributeError, KeyError, TypeError) as error:  # JSON, but not an object
        raise ValueError(f"the body is not an event ({type(error).__name__}: {error})") from error
    try:
        refund = _refund_in(event)
        if refund is None:
            return None
        live = bool(getattr(event, "livemode", False))
        return StripeRefundEvent(event.id, event.type, stripe_refund(refund), live=live)
    except (AttributeError, KeyError, TypeError) as error:  # Stripe objects raise these for missing fields
        raise ValueError(f"the event has no readable refund ({type(error).__name__}: {error})") from error


def _refund_in(event: stripe.Event) -> stripe.Refund | None:
    subject = event.data.object
    if event.type in _REFUND_EVENTS:
        return subject
    if event.type == "charge.refunded" and "refunds" in subject and subject["refunds"]:
        # Charges stopped embedding their refunds in API version 2022-11-15; when they do,
        # Stripe lists the newest, the one this event is about, first.
        return next(iter(subject["refunds"].data), None)
    return None
