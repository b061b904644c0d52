"""Refunds through the official Stripe SDK, on its async httpx client.

Stripe generates a fresh Idempotency-Key per call, so a Temporal retry would look like a
new refund to Stripe: every refund here carries a key derived from the return instead.
Stripe forgets keys after 24 hours, so the key also goes into the refund's metadata, where
an attempt that comes later still finds the refund it made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import stripe

from integrations.errors import IntegrationError
from integrations.settings import Settings

# Stripe's permanent errors: retrying the same request can only fail the same way.
_PERMANENT = (
    stripe.InvalidRequestError,
    stripe.CardError,
    stripe.AuthenticationError,
    stripe.PermissionError,
    stripe.IdempotencyError,
)
# Refunds in these states hold money back from the payment; failed and canceled ones release it.
_HOLDING = frozenset({"pending", "requires_action", "succeeded"})
# Our amounts are in each currency's ISO 4217 minor unit; Stripe counts a few currencies in a
# smaller one (ISK in hundredths of a krona, though it refunds whole krónur only).
_STRIPE_UNITS_PER_MINOR_UNIT = {"ISK": 100}
# Where each refund keeps its idempotency key, so a retry finds it after Stripe forgot the key.
IDEMPOTENCY_KEY_METADATA = "idempotency_key"


@dataclass(frozen=True)
class StripeRefund:
    refund_id: str
    amount: int
    currency: str  # upper case, as ISO 4217 writes it
    status: str  # pending, requires_action, succeeded, failed, canceled
    failure_reason: str | None
    metadata: Mapping[str, str]


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

    async def refund(
        self,
        payment_intent_id: str,
        amount: int,
        currency: str,
        *,
        idempotency_key: str,
        metadata: Mapping[str, str],
        at_most_what_is_left: bool = False,
    ) -> StripeRefund | None:
        """Refunds `amount` of the payment, once per idempotency key.

        Answers the refund an earlier call with the same key made, if any. Otherwise refuses
        (permanently, before asking Stripe) a refund in another currency (`stripe.currency_mismatch`)
        and one larger than what the payment's other refunds left (`stripe.amount_exceeds_remaining`),
        unless `at_most_what_is_left`: then it refunds what is left, if less, and answers None when
        nothing is.
        """
        with _stripe_errors(racing_for_what_is_left=at_most_what_is_left):
            refunds = await self._refunds_of(payment_intent_id)
            earlier = next((r for r in refunds if _metadata(r).get(IDEMPOTENCY_KEY_METADATA) == idempotency_key), None)
            if earlier is not None:
                return stripe_refund(earlier)
            intent = await self._client.v1.payment_intents.retrieve_async(payment_intent_id)
            left = from_stripe_amount(_left_to_refund(currency, intent, refunds), currency)
            if at_most_what_is_left:
                amount = min(amount, left)
                if amount == 0:
                    return None
            elif amount > left:
                message = f"refund of {amount} exceeds the {left} left to refund on payment {intent.id}"
                raise IntegrationError("stripe", "amount_exceeds_remaining", message, retryable=False)
            refund = await self._client.v1.refunds.create_async(
                {
                    "payment_intent": payment_intent_id,
                    "amount": to_stripe_amount(amount, currency),
                    "metadata": {**metadata, IDEMPOTENCY_KEY_METADATA: idempotency_key},
                },
                options={"idempotency_key": idempotency_key},
            )
        return stripe_refund(refund)

    async def get_refund(self, refund_id: str) -> StripeRefund:
        """The refund as Stripe sees it now (a `succeeded` refund can still turn `failed`)."""
        with _stripe_errors():
            refund = await self._client.v1.refunds.retrieve_async(refund_id)
        return stripe_refund(refund)

    async def _refunds_of(self, payment_intent_id: str) -> list[stripe.Refund]:
        first_page = await self._client.v1.refunds.list_async({"payment_intent": payment_intent_id, "limit": 100})
        return [refund async for refund in first_page.auto_paging_iter()]


def to_stripe_amount(amount: int, currency: str) -> int:
    """An amount in the currency's ISO minor unit, as Stripe counts it."""
    return amount * _STRIPE_UNITS_PER_MINOR_UNIT.get(currency, 1)


def from_stripe_amount(amount: int, currency: str) -> int:
    return amount // _STRIPE_UNITS_PER_MINOR_UNIT.get(currency, 1)


def stripe_refund(refund: stripe.Refund) -> StripeRefund:
    """A Stripe refund object (from the API or a webhook) as this module answers it, in ISO minor units."""
    currency = refund.currency.upper()
    return StripeRefund(
        refund_id=refund.id,
        amount=from_stripe_amount(refund.amount, currency),
        currency=currency,
        status=refund.status,
        # Stripe leaves the key out unless the refund failed.
        failure_reason=getattr(refund, "failure_reason", None),
        metadata=_metadata(refund),
    )


def _metadata(refund: stripe.Refund) -> dict[str, str]:
    return refund.metadata.to_dict() if refund.metadata else {}  # Stripe objects are not dicts


def _left_to_refund(currency: str, intent: stripe.PaymentIntent, refunds: list[stripe.Refund]) -> int:
    """What the payment's other refunds left; refuses a refund in another currency than the payment's."""
    if intent.currency.upper() != currency:
        message = f"payment {intent.id} is in {intent.currency.upper()}, the refund in {currency}"
        raise IntegrationError("stripe", "currency_mismatch", message, retryable=False)
    # `amount_received` is 0 until the payment succeeds; Stripe then refuses with its own reason.
    paid = intent.amount_received or intent.amount
    return max(paid - sum(refund.amount for refund in refunds if refund.status in _HOLDING), 0)


@contextlib.contextmanager
def _stripe_errors(*, racing_for_what_is_left: bool = False) -> Iterator[None]:
    try:
        yield
    except stripe.StripeError as error:
        classified = _classified(error)
        if racing_for_what_is_left and classified.code == "stripe.amount_too_large":
            # Another return of the payment refunded between our look and our refund: look again.
            classified.retryable = True
        raise classified from error


def _classified(error: stripe.StripeError) -> IntegrationError:
    code = getattr(error, "code", None) or type(error).__name__
    message = error.user_message or str(error)
    return IntegrationError(
        "stripe", code, message, retryable=not isinstance(error, _PERMANENT), status=error.http_status
    )
