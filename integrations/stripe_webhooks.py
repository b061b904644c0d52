"""Stripe webhooks: verify the signature, then turn refund events into a return's PaymentUpdate.

Stripe signs every delivery (`Stripe-Signature: t=..,v1=..`, an HMAC-SHA256 keyed with the
endpoint's `whsec_` secret), and may deliver an event twice or out of order: the update
carries the refund's status at the time of the event, and the workflow decides what a
late or repeated one means.
"""

from __future__ import annotations

from dataclasses import dataclass

import stripe

from integrations.stripe_payments import RETURN_ID_KEY, refund_metadata, refund_update
from workflows.models import PaymentUpdate

SIGNATURE_HEADER = "Stripe-Signature"
# Events whose object is the refund itself.
_REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"})


class WebhookSignatureError(Exception):
    """A webhook that cannot be shown to come from the vendor: answer 400 and drop it."""


@dataclass(frozen=True)
class StripeRefundEvent:
    event_id: str
    event_type: str
    return_id: str
    update: PaymentUpdate


def verify_and_parse(payload: bytes, signature_header: str | None, secret: str) -> StripeRefundEvent | None:
    """Verifies a delivery and maps it to the return its refund belongs to.

    Raises WebhookSignatureError when the signature is missing, wrong or older than Stripe's
    five-minute tolerance. Answers None for events that are not about one of our refunds
    (other event types, refunds made outside this system).
    """
    try:
        event = stripe.Webhook.construct_event(payload, signature_header, secret)
    except stripe.SignatureVerificationError as error:
        raise WebhookSignatureError(f"Stripe webhook rejected: {error}") from error
    refund = _refund_in(event)
    return_id = refund_metadata(refund, RETURN_ID_KEY) if refund is not None else None
    if refund is None or return_id is None:
        return None
    return StripeRefundEvent(event.id, event.type, return_id, refund_update(refund))


def _refund_in(event: stripe.Event) -> stripe.Refund | None:
    subject = event.data.object
    if event.type in _REFUND_EVENTS:
        return subject
    if event.type == "charge.refunded" and "refunds" in subject and subject["refunds"]:
        # Charges stopped embedding their refunds in API version 2022-11-15; when they do,
        # Stripe lists the newest, the one this event is about, first.
        return next(iter(subject["refunds"].data), None)
    return None
