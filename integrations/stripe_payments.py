"""Refunds through the official Stripe SDK, on its async httpx client.

Stripe generates a fresh Idempotency-Key per call, so a Temporal retry would look like a
new refund to Stripe: every refund here carries a key derived from the return instead.
Stripe forgets keys after 24 hours, so the key also goes into the refund's metadata, where
an attempt that comes later still finds the refund it made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import stripe

from integrations.errors import IntegrationError
from integrations.settings import Settings
from workflows.models import PaymentUpdate, RefundReceipt, RefundRequest, RefundState

# Stripe's permanent errors: retrying the same request can only fail the same way.
_PERMANENT = (
    stripe.InvalidRequestError,
    stripe.CardError,
    stripe.AuthenticationError,
    stripe.PermissionError,
    stripe.IdempotencyError,
)
# Refunds in these states hold money back from the payment; failed and canceled ones release it.
_HOLDING = frozenset({RefundState.pending, RefundState.requires_action, RefundState.succeeded})
# Metadata keys this module writes on every refund; `return_id` also routes Stripe's webhooks.
RETURN_ID_KEY = "return_id"
IDEMPOTENCY_KEY = "idempotency_key"


class StripePayments:
    def __init__(self, settings: Settings):
        base = settings.stripe_base
        self._client = stripe.StripeClient(
            settings.stripe_key,
            stripe_version=settings.stripe_api_version,
            base_addresses={"api": base} if base else None,
            max_network_retries=settings.stripe_max_network_retries,
            http_client=stripe.HTTPXClient(timeout=settings.stripe_timeout_seconds),
        )

    async def create_test_payment(self, amount: int, currency: str) -> str:
        """Charges a test card, standing in for the shop's checkout (demo and tests only)."""
        with _stripe_errors():
            intent = await self._client.v1.payment_intents.create_async(
                {
                    "amount": amount,
                    "currency": currency.lower(),
                    "payment_method": "pm_card_visa",
                    "confirm": True,
                    "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                }
            )
        return intent.id

    async def refund(self, request: RefundRequest) -> RefundReceipt:
        """Refunds `request.amount` of the payment, once per idempotency key.

        Answers the refund an earlier call with the same key made, if any. Otherwise refuses
        (permanently, before asking Stripe) a refund larger than what the payment's other
        refunds left: `stripe.amount_exceeds_remaining`, or `stripe.currency_mismatch`.
        """
        with _stripe_errors():
            refunds = await self._refunds_of(request.payment_intent_id)
            earlier = next((r for r in refunds if refund_metadata(r, IDEMPOTENCY_KEY) == request.idempotency_key), None)
            if earlier is not None:
                return _receipt(earlier)
            intent = await self._client.v1.payment_intents.retrieve_async(request.payment_intent_id)
            # Two returns of one payment refunding at the same moment can both pass this check;
            # Stripe's own limit (`amount_too_large`) still keeps their total within the payment.
            _ensure_refundable(request, intent, refunds)
            refund = await self._client.v1.refunds.create_async(
                {
                    "payment_intent": request.payment_intent_id,
                    "amount": request.amount,
                    "metadata": {
                        RETURN_ID_KEY: request.return_id,
                        "order_id": request.order_id,
                        IDEMPOTENCY_KEY: request.idempotency_key,
                    },
                },
                options={"idempotency_key": request.idempotency_key},
            )
        return _receipt(refund)

    async def get_refund(self, refund_id: str) -> RefundReceipt:
        """The refund as Stripe sees it now (a `succeeded` refund can still turn `failed`)."""
        with _stripe_errors():
            refund = await self._client.v1.refunds.retrieve_async(refund_id)
        return _receipt(refund)

    async def _refunds_of(self, payment_intent_id: str) -> list[stripe.Refund]:
        first_page = await self._client.v1.refunds.list_async({"payment_intent": payment_intent_id, "limit": 100})
        return [refund async for refund in first_page.auto_paging_iter()]


def refund_update(refund: stripe.Refund) -> PaymentUpdate:
    """A Stripe refund object (from the API or a webhook) in the contract's words."""
    return PaymentUpdate(
        refund_id=refund.id,
        status=RefundState(refund.status),
        # Stripe leaves the key out unless the refund failed.
        failure_reason=getattr(refund, "failure_reason", None),
    )


def refund_metadata(refund: stripe.Refund, key: str) -> str | None:
    """One metadata value of a refund (Stripe objects are not dicts: no `.get`)."""
    metadata = refund.metadata
    return metadata[key] if metadata and key in metadata else None


def _receipt(refund: stripe.Refund) -> RefundReceipt:
    update = refund_update(refund)
    return RefundReceipt(
        refund_id=refund.id,
        amount=refund.amount,
        currency=refund.currency.upper(),
        status=update.status,
        failure_reason=update.failure_reason,
    )


def _ensure_refundable(request: RefundRequest, intent: stripe.PaymentIntent, refunds: list[stripe.Refund]) -> None:
    if intent.currency.upper() != request.currency:
        message = f"payment {intent.id} is in {intent.currency.upper()}, the refund in {request.currency}"
        raise IntegrationError("stripe", "currency_mismatch", message, retryable=False)
    # `amount_received` is 0 until the payment succeeds; Stripe then refuses with its own reason.
    paid = intent.amount_received or intent.amount
    remaining = paid - sum(refund.amount for refund in refunds if RefundState(refund.status) in _HOLDING)
    if request.amount > remaining:
        message = f"refund of {request.amount} exceeds the {remaining} left to refund on payment {intent.id}"
        raise IntegrationError("stripe", "amount_exceeds_remaining", message, retryable=False)


@contextlib.contextmanager
def _stripe_errors() -> Iterator[None]:
    try:
        yield
    except stripe.StripeError as error:
        raise _classified(error) from error


def _classified(error: stripe.StripeError) -> IntegrationError:
    code = getattr(error, "code", None) or type(error).__name__
    message = error.user_message or str(error)
    return IntegrationError(
        "stripe", code, message, retryable=not isinstance(error, _PERMANENT), status=error.http_status
    )
