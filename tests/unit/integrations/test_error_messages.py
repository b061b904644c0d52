"""What operators read when a vendor call fails: the code once, then the vendor's words in one line.

The workflow notes a failed step as `(<error type>: <message>)` (workflows/steps.py, `_flag`), with
the IntegrationError's code as the type and its message as the message: neither may repeat the code
nor carry the vendor's raw JSON.
"""

from __future__ import annotations

import json

import httpx
import pytest
import requests
import stripe
from shippo.models import errors as shippo_errors

from integrations.errors import MAX_MESSAGE_CHARS, IntegrationError
from integrations.shippo_labels import _vendor_message
from integrations.shop import _error_from
from integrations.stripe_payments import _classified


def attention_note(error: IntegrationError) -> str:
    """How the timeline shows it (workflows/steps.py `_flag`)."""
    return f"({error.code}: {error.message})"


def assert_readable(error: IntegrationError) -> None:
    note = attention_note(error)
    assert note.count(error.code) == 1, note
    assert "{" not in error.message and "\n" not in error.message, error.message
    assert len(error.message) <= MAX_MESSAGE_CHARS
    assert str(error) == f"{error.code}: {error.message}"


def shop_answer(status: int, body: object = None, text: str | None = None) -> httpx.Response:
    request = httpx.Request("POST", "http://shop.invalid/v1/exchange_orders")
    if text is not None:
        return httpx.Response(status, text=text, request=request)
    return httpx.Response(status, json=body, request=request)


@pytest.mark.parametrize(
    ("answer", "code", "message"),
    [
        (
            shop_answer(409, {"error": "out_of_stock", "message": "0 of MUG-X on hand", "sku": "MUG-X", "on_hand": 0}),
            "shop.out_of_stock",
            "0 of MUG-X on hand",
        ),
        (
            shop_answer(
                422,
                {
                    "error": "invalid_request",
                    "message": "the request is invalid",
                    "detail": [{"loc": ["body", "quantity"], "msg": "Input should be greater than or equal to 1"}],
                },
            ),
            "shop.invalid_request",
            "the request is invalid: body.quantity: Input should be greater than or equal to 1",
        ),
        (shop_answer(503, {"error": "sandbox_fault"}), "shop.sandbox_fault", "HTTP 503"),
        (
            shop_answer(502, text="<html>\n  <body>Bad   gateway</body>\n</html>"),
            "shop.http_502",
            "<html> <body>Bad gateway</body> </html>",
        ),
    ],
)
def test_shop_platform_errors_say_the_platform_s_message_once(answer: httpx.Response, code: str, message: str) -> None:
    error = _error_from(answer)
    assert (error.code, error.message) == (code, message)
    assert_readable(error)


def shippo_error(status: int, body: str) -> shippo_errors.SDKError:
    return shippo_errors.SDKError("API error occurred", status, body, requests.Response())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (json.dumps({"rate": ["Rate with object_id abc not found."]}), "rate: Rate with object_id abc not found."),
        (json.dumps({"detail": "Invalid token."}), "Invalid token."),
        (
            json.dumps({"transaction": ["Transaction has status REFUNDED; only SUCCESS labels can be refunded."]}),
            "transaction: Transaction has status REFUNDED; only SUCCESS labels can be refunded.",
        ),
        (json.dumps({}), "HTTP 400"),
        ("", "HTTP 400"),
    ],
)
def test_shippo_errors_are_read_not_passed_on_as_json(body: str, message: str) -> None:
    said = _vendor_message(shippo_error(400, body))
    error = IntegrationError("shippo", "http_400", said, retryable=False, status=400)
    assert error.message == message
    assert_readable(error)


def test_stripe_errors_say_stripe_s_message_without_the_request_id() -> None:
    refused = stripe.InvalidRequestError(
        "Refund amount ($50.00) is greater than unrefunded amount on charge ($44.01)",
        "amount",
        code="amount_too_large",
        http_status=400,
        headers={"request-id": "req_123"},
    )
    error = _classified(refused)
    assert error.code == "stripe.amount_too_large"
    assert error.message == "Refund amount ($50.00) is greater than unrefunded amount on charge ($44.01)"
    assert_readable(error)


def test_a_network_failure_reads_as_one_line() -> None:
    error = _classified(stripe.APIConnectionError("Unexpected error communicating with Stripe.\n\n(Network error: x)"))
    assert error.message == "Unexpected error communicating with Stripe. (Network error: x)"
    assert_readable(error)


def test_a_message_that_already_carries_the_code_says_it_once() -> None:
    error = IntegrationError("stripe", "amount_too_large", "stripe.amount_too_large: too much", retryable=False)
    assert attention_note(error) == "(stripe.amount_too_large: too much)"


def test_a_long_vendor_message_is_cut_to_one_short_line() -> None:
    error = IntegrationError("shop", "http_500", "x" * 5000, retryable=True, status=500)
    assert len(error.message) == MAX_MESSAGE_CHARS
    assert_readable(error)
