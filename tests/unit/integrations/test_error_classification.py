"""Vendor errors are classified once: transient ones retry, permanent ones stop at once."""

import pytest
import stripe

from integrations.errors import is_retryable_status
from integrations.stripe_payments import _classified


@pytest.mark.parametrize(
    ("error", "retryable", "code"),
    [
        (stripe.APIConnectionError("reset by peer"), True, "stripe.APIConnectionError"),
        (stripe.RateLimitError("slow down", code="rate_limit", http_status=429), True, "stripe.rate_limit"),
        (stripe.APIError("boom", http_status=500), True, "stripe.APIError"),
        (
            stripe.InvalidRequestError(
                "already refunded", param="charge", code="charge_already_refunded", http_status=400
            ),
            False,
            "stripe.charge_already_refunded",
        ),
        (
            stripe.CardError("declined", param=None, code="card_declined", http_status=402),
            False,
            "stripe.card_declined",
        ),
        (stripe.AuthenticationError("bad key", http_status=401), False, "stripe.AuthenticationError"),
        (stripe.PermissionError("nope", http_status=403), False, "stripe.PermissionError"),
        (stripe.IdempotencyError("key reused", http_status=400), False, "stripe.IdempotencyError"),
    ],
)
def test_stripe_errors(error: stripe.StripeError, retryable: bool, code: str) -> None:
    classified = _classified(error)
    assert (classified.retryable, classified.code) == (retryable, code)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (404, False), (408, True), (429, True), (500, True), (503, True)],
)
def test_http_statuses(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable
