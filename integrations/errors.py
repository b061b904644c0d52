"""One error type for every vendor call, classified once, where the vendor is known."""

from __future__ import annotations


class IntegrationError(Exception):
    """A vendor call failed.

    `retryable` says whether the same call may succeed later (outage, rate limit,
    timeout); `code` is a stable name the workflow and operators can branch on
    (e.g. `stripe.charge_already_refunded`, `shippo.http_400`).
    """

    def __init__(self, vendor: str, code: str, message: str, *, retryable: bool, status: int | None = None):
        self.vendor = vendor
        self.code = f"{vendor}.{code}"
        # What operators read beside the code (`stripe.amount_too_large: <message>`): the vendor's own
        # words, once, never the code again and never a raw body.
        self.message = readable(message).removeprefix(f"{self.code}: ") or f"no message (HTTP {status})"
        self.retryable = retryable
        self.status = status
        super().__init__(f"{self.code}: {self.message}")


MAX_MESSAGE_CHARS = 300


def readable(text: str) -> str:
    """One line of at most MAX_MESSAGE_CHARS: vendors' messages come with newlines and padding."""
    line = " ".join(text.split())
    return line if len(line) <= MAX_MESSAGE_CHARS else line[: MAX_MESSAGE_CHARS - 1] + "…"


def describe_error_body(body: object) -> str | None:
    """A vendor's JSON error body in words: its message, else its field errors (`rate: not found`).

    Vendors shape these differently (Stripe `{"error": {"message": ...}}`, Shippo `{"detail": ...}` or
    `{"field": ["problem", ...]}`, validation lists of `{"loc", "msg"}`); None when nothing readable is in it.
    """
    if isinstance(body, str):
        return body or None
    if isinstance(body, list):
        return "; ".join(part for part in map(describe_error_body, body) if part) or None
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("loc"), list) and "msg" in body:
        return f"{'.'.join(str(part) for part in body['loc'])}: {body['msg']}"
    if isinstance(body.get("error"), dict):
        return describe_error_body(body["error"])
    said = next(
        (body[key] for key in ("message", "detail", "text") if isinstance(body.get(key), str) and body[key]), None
    )
    problems = describe_error_body(body["detail"]) if isinstance(body.get("detail"), list) else None
    if said or problems:
        return ": ".join(part for part in (said, problems) if part)
    fields = [
        f"{name}: {words}"
        for name, value in body.items()
        if name not in _CODE_FIELDS and (words := describe_error_body(value))
    ]
    return "; ".join(fields) or None


# Fields of error bodies that name the error rather than say it (the code is already in `code`).
_CODE_FIELDS = frozenset({"error", "type", "code", "status", "param", "doc_url", "request_log_url"})


RETRYABLE_HTTP_STATUSES = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_HTTP_STATUSES


class WebhookSignatureError(Exception):
    """A webhook that cannot be shown to come from the vendor: answer 400 and drop it."""
