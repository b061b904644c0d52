"""One error type for every vendor call, classified once, where the vendor is known."""

from __future__ import annotations


class IntegrationError(Exception):
    """A vendor call failed.

    `retryable` says whether the same call may succeed later (outage, rate limit,
    timeout); `code` is a stable name the workflow and operators can branch on
    (e.g. `stripe.charge_already_refunded`, `shippo.http_400`).
    """

    def __init__(self, vendor: str, code: str, message: str, *, retryable: bool, status: int | None = None):
        super().__init__(f"{vendor}: {message}")
        self.vendor = vendor
        self.code = f"{vendor}.{code}"
        self.message = message
        self.retryable = retryable
        self.status = status


RETRYABLE_HTTP_STATUSES = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_HTTP_STATUSES


class WebhookSignatureError(Exception):
    """A webhook that cannot be shown to come from the vendor: answer 400 and drop it."""
