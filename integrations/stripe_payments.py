"""Refunds through the official Stripe SDK, on its async httpx client.

Stripe generates a fresh Idempotency-Key per call, so a Temporal retry would look like a
new refund to Stripe: every refund here carries a key derived from the return instead.
"""

from __future__ import annotations

import stripe

from integrations.errors import IntegrationError
from integrations.settings import Settings
from workflows.models import RefundReceipt, RefundRequest

# Stripe's permanent errors: retrying the same request can only fail the same way.
_PERMANENT = (
    stripe.InvalidRequestError,
    stripe.CardError,
    stripe.AuthenticationError,
    stripe.PermissionError,
    stripe.IdempotencyError,
)


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
        params: stripe.RefundCreateParams = {
            "payment_intent": request.payment_intent_id,
            "amount": request.amount,
            "metadata": {"return_id": request.return_id, "order_id": request.order_id},
        }
        try:
            refund = await self._client.v1.refunds.create_async(
                params, options={"idempotency_key": request.idempotency_key}
            )
        except stripe.StripeError as error:
            raise _classified(error) from error
        return RefundReceipt(refund_id=refund.id, amount=refund.amount, currency=refund.currency.upper(), status=refund.status or "unknown")


def _classified(error: stripe.StripeError) -> IntegrationError:
    code = getattr(error, "code", None) or type(error).__name__
    message = error.user_message or str(error)
    return IntegrationError(
        "stripe", code, message, retryable=not isinstance(error, _PERMANENT), status=error.http_status
    )
