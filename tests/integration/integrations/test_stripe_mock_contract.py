"""Every request our Stripe integration sends is accepted by the official stripe-mock,
which validates every request against Stripe's own OpenAPI description."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe

from devstack.checkout import charge_shopper
from devstack.ports import free_port
from integrations.settings import Settings
from integrations.stripe_payments import StripePayments

STRIPE_MOCK = os.environ.get("STRIPE_MOCK_PATH")
pytestmark = pytest.mark.skipif(not STRIPE_MOCK, reason="stripe-mock not built (scripts/setup.sh needs Go)")


@pytest.fixture(scope="module")
def stripe_mock_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [STRIPE_MOCK, "-http-port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/v1/refunds", headers={"Authorization": "Bearer sk_test_mock"}, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _payments(url: str) -> StripePayments:
    return StripePayments(
        Settings(
            vendor_mode="sandbox", stripe_api_key="sk_test_mock", stripe_api_base=url, stripe_max_network_retries=0
        )
    )


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    headers: Mapping[str, str]
    params: dict[str, list[str]]  # the query of a GET, the form body of a POST
    status: int


@pytest.fixture
def exchanges(monkeypatch: pytest.MonkeyPatch) -> list[Exchange]:
    """Records every request the SDK puts on the wire, with the status stripe-mock answered."""
    recorded: list[Exchange] = []
    send = stripe.HTTPXClient.request_async

    async def recording(
        client: stripe.HTTPXClient, method: str, url: str, headers: Mapping[str, str], post_data: object = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        content, status, response_headers = await send(client, method, url, headers, post_data)
        parts = urlsplit(url)
        body = post_data.decode() if isinstance(post_data, bytes) else post_data
        params = parse_qs(body if isinstance(body, str) and body else parts.query)
        recorded.append(Exchange(method.upper(), parts.path, dict(headers), params, status))
        return content, status, response_headers

    monkeypatch.setattr(stripe.HTTPXClient, "request_async", recording)
    return recorded


async def test_refund_requests_are_accepted_by_stripe_mock(stripe_mock_url: str, exchanges: list[Exchange]) -> None:
    # stripe-mock's pi_123 is 1099 USD with one refund of 100 (not ours): 999 are left.
    payments = _payments(stripe_mock_url)
    receipt = await payments.refund(
        "pi_123", 500, "USD", idempotency_key="return:R-1:refund:1", metadata={"return_id": "R-1", "order_id": "O-1"}
    )
    assert receipt.refund_id.startswith("re_")
    assert receipt.currency == "USD"
    await payments.get_refund(receipt.refund_id)

    assert [(e.method, e.path, e.status) for e in exchanges] == [
        ("GET", "/v1/refunds", 200),
        ("GET", "/v1/payment_intents/pi_123", 200),
        ("POST", "/v1/refunds", 200),
        ("GET", f"/v1/refunds/{receipt.refund_id}", 200),
    ]
    listing, _, create, _ = exchanges
    assert listing.params == {"payment_intent": ["pi_123"], "limit": ["100"]}
    assert create.headers["Idempotency-Key"] == "return:R-1:refund:1"
    assert create.params["metadata[idempotency_key]"] == ["return:R-1:refund:1"]
    assert create.params["metadata[return_id]"] == ["R-1"]


async def test_test_payment_request_is_accepted_by_stripe_mock(stripe_mock_url: str) -> None:
    settings = Settings(vendor_mode="sandbox", stripe_api_key="sk_test_mock", stripe_api_base=stripe_mock_url)
    assert (await charge_shopper(settings, 1000)).startswith("pi_")


async def test_stripe_mock_really_validates(stripe_mock_url: str) -> None:
    """Proof the check has teeth: a request outside Stripe's schema is refused."""
    client = _payments(stripe_mock_url)._client
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.refunds.create_async({"payment_intent": "pi_123", "amount": "lots"})  # type: ignore[typeddict-item]
