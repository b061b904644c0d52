"""The Stripe sandbox, driven only through the official `stripe` SDK (admin calls aside)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe

from sandboxes.server import serve_in_thread
from sandboxes.stripe_sandbox import create_app

API_KEY = "sk_test_sandbox"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_in_thread(create_app()) as url:
        yield url


@pytest.fixture(autouse=True)
def admin(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{base_url}/_sandbox") as client:
        client.post("/reset").raise_for_status()
        yield client


def make_client(base_url: str, api_key: str = API_KEY, max_network_retries: int = 0) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": base_url},
        http_client=stripe.HTTPXClient(allow_sync_methods=True),
        max_network_retries=max_network_retries,
    )


@pytest.fixture
def client(base_url: str) -> stripe.StripeClient:
    return make_client(base_url)


def pay(client: stripe.StripeClient, amount: int = 1000, **params: Any) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        {"amount": amount, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True, **params}
    )


def refund_count(admin: httpx.Client) -> int:
    return len(admin.get("/refunds").json())


def test_payment_intent_create_and_retrieve(client: stripe.StripeClient) -> None:
    intent = pay(client, 4200, metadata={"order_id": "o-1"})
    assert intent.id.startswith("pi_")
    assert intent.object == "payment_intent"
    assert (intent.amount, intent.currency, intent.status) == (4200, "usd", "succeeded")
    assert intent.latest_charge.startswith("ch_")
    assert intent.metadata.to_dict() == {"order_id": "o-1"}

    fetched = client.v1.payment_intents.retrieve(intent.id)
    assert fetched.to_dict() == intent.to_dict()

    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.retrieve("pi_missing")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")


def test_full_refund_defaults_to_what_is_left(client: stripe.StripeClient) -> None:
    intent = pay(client, 1500)
    refund = client.v1.refunds.create(
        {"payment_intent": intent.id, "reason": "requested_by_customer", "metadata": {"return_id": "r-1"}}
    )
    assert refund.id.startswith("re_")
    assert refund.object == "refund"
    assert (refund.amount, refund.currency, refund.status) == (1500, "usd", "succeeded")
    assert (refund.payment_intent, refund.charge) == (intent.id, intent.latest_charge)
    assert refund.reason == "requested_by_customer"
    assert refund.metadata.to_dict() == {"return_id": "r-1"}
    assert refund.balance_transaction.startswith("txn_")
    assert client.v1.refunds.retrieve(refund.id).to_dict() == refund.to_dict()

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create({"payment_intent": intent.id})
    assert refused.value.code == "charge_already_refunded"
    assert intent.latest_charge in refused.value.user_message


async def test_partial_refunds_keep_a_ledger(client: stripe.StripeClient) -> None:
    intent = await client.v1.payment_intents.create_async({"amount": 1000, "currency": "usd"})
    first = await client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 300})
    second = await client.v1.refunds.create_async({"charge": intent.latest_charge, "amount": 200})
    assert (first.amount, second.amount) == (300, 200)
    assert second.payment_intent == intent.id

    with pytest.raises(stripe.InvalidRequestError) as too_much:
        await client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 501})
    assert (too_much.value.code, too_much.value.param) == ("amount_too_large", "amount")
    assert "$5.01" in too_much.value.user_message and "$5.00" in too_much.value.user_message

    rest = await client.v1.refunds.create_async({"payment_intent": intent.id})
    assert rest.amount == 500
    with pytest.raises(stripe.InvalidRequestError) as nothing_left:
        await client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 1})
    assert nothing_left.value.code == "charge_already_refunded"


def test_refund_of_unknown_payment_is_refused(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.refunds.create({"payment_intent": "pi_nope"})
    assert (unknown.value.http_status, unknown.value.code, unknown.value.param) == (
        400,
        "resource_missing",
        "payment_intent",
    )
    with pytest.raises(stripe.InvalidRequestError) as unknown_charge:
        client.v1.refunds.create({"charge": "ch_nope"})
    assert (unknown_charge.value.code, unknown_charge.value.param) == ("resource_missing", "charge")
    with pytest.raises(stripe.InvalidRequestError) as no_refund:
        client.v1.refunds.retrieve("re_nope")
    assert (no_refund.value.http_status, no_refund.value.code) == (404, "resource_missing")


def test_bad_parameters_are_refused(client: stripe.StripeClient) -> None:
    intent = pay(client)
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.refunds.create({"payment_intent": intent.id, "bogus": "1"})  # type: ignore[typeddict-unknown-key]
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "bogus")
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.refunds.create({"amount": 100})
    assert missing.value.code == "parameter_missing"
    with pytest.raises(stripe.InvalidRequestError) as zero:
        client.v1.refunds.create({"payment_intent": intent.id, "amount": 0})
    assert zero.value.param == "amount"


def test_amounts_beyond_eight_digits_are_refused_as_stripe_does(client: stripe.StripeClient) -> None:
    assert pay(client, 99_999_999).amount == 99_999_999
    with pytest.raises(stripe.InvalidRequestError) as too_large:
        pay(client, 100_000_000)
    assert (too_large.value.code, too_large.value.param) == ("amount_too_large", "amount")
    assert too_large.value.user_message == "Amount must be no more than $999999.99"


def test_pending_faults_are_listed_until_they_fire(client: stripe.StripeClient, admin: httpx.Client) -> None:
    admin.post("/faults", json={"method": "POST", "path": "/v1/refunds", "status": 500, "times": 2}).raise_for_status()
    assert [(f["path"], f["times"]) for f in admin.get("/faults").json()] == [("/v1/refunds", 2)]
    intent = pay(client)
    with pytest.raises(stripe.APIError):
        client.v1.refunds.create({"payment_intent": intent.id})
    assert [f["times"] for f in admin.get("/faults").json()] == [1]


def test_refunds_are_listed_by_payment(client: stripe.StripeClient, admin: httpx.Client) -> None:
    first, second = pay(client), pay(client)
    refund = client.v1.refunds.create({"payment_intent": first.id, "amount": 100})
    client.v1.refunds.create({"payment_intent": second.id, "amount": 200})
    assert [r["id"] for r in admin.get("/refunds", params={"payment_intent": first.id}).json()] == [refund.id]


async def test_idempotent_replay_returns_the_same_refund(client: stripe.StripeClient, admin: httpx.Client) -> None:
    intent = pay(client)
    params = {"payment_intent": intent.id, "amount": 400, "metadata": {"return_id": "r-9"}}
    options = {"idempotency_key": "refund-r-9"}
    first = client.v1.refunds.create(params, options)
    replay = await client.v1.refunds.create_async(params, options)
    assert replay.to_dict() == first.to_dict()
    assert replay.last_response.headers.get("idempotent-replayed") == "true"
    assert first.last_response.headers.get("idempotent-replayed") is None
    assert refund_count(admin) == 1


def test_idempotent_replay_of_an_error(client: stripe.StripeClient, admin: httpx.Client) -> None:
    intent = pay(client, 100)
    options = {"idempotency_key": "too-much"}
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.refunds.create({"payment_intent": intent.id, "amount": 500}, options)
        assert refused.value.code == "amount_too_large"
    assert refused.value.headers.get("idempotent-replayed") == "true"
    assert refund_count(admin) == 0


def test_same_key_with_other_parameters_is_an_idempotency_error(
    client: stripe.StripeClient, admin: httpx.Client
) -> None:
    intent = pay(client)
    client.v1.refunds.create({"payment_intent": intent.id, "amount": 100}, {"idempotency_key": "k-1"})
    with pytest.raises(stripe.IdempotencyError):
        client.v1.refunds.create({"payment_intent": intent.id, "amount": 200}, {"idempotency_key": "k-1"})
    assert refund_count(admin) == 1


def test_list_filters_and_pages(client: stripe.StripeClient) -> None:
    a, b = pay(client), pay(client)
    a_refunds = [client.v1.refunds.create({"payment_intent": a.id, "amount": 100}) for _ in range(3)]
    b_refund = client.v1.refunds.create({"payment_intent": b.id, "amount": 100})

    by_intent = client.v1.refunds.list({"payment_intent": a.id})
    assert by_intent.object == "list" and by_intent.url == "/v1/refunds"
    assert [r.id for r in by_intent.data] == [r.id for r in reversed(a_refunds)]  # newest first
    assert by_intent.has_more is False
    assert [r.id for r in client.v1.refunds.list({"charge": b.latest_charge}).data] == [b_refund.id]

    page = client.v1.refunds.list({"payment_intent": a.id, "limit": 2})
    assert len(page.data) == 2 and page.has_more is True
    everything = [r.id for r in client.v1.refunds.list({"limit": 1}).auto_paging_iter()]
    assert everything == [b_refund.id, *(r.id for r in reversed(a_refunds))]


def test_only_pending_or_requires_action_refunds_can_be_canceled(
    client: stripe.StripeClient, admin: httpx.Client
) -> None:
    intent = pay(client, 800)
    succeeded = client.v1.refunds.create({"payment_intent": intent.id, "amount": 100})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.cancel(succeeded.id)

    admin.post("/refund_outcomes", json={"status": "pending", "times": 1}).raise_for_status()
    pending = client.v1.refunds.create({"payment_intent": intent.id})
    assert (pending.status, pending.amount, pending.pending_reason) == ("pending", 700, "processing")
    with pytest.raises(stripe.InvalidRequestError) as held:
        client.v1.refunds.create({"payment_intent": intent.id, "amount": 1})
    assert held.value.code == "charge_already_refunded"

    canceled = client.v1.refunds.cancel(pending.id)
    assert canceled.status == "canceled"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.cancel(pending.id)
    assert client.v1.refunds.create({"payment_intent": intent.id}).amount == 700  # money came back


def test_refund_outcomes_and_later_transitions(client: stripe.StripeClient, admin: httpx.Client) -> None:
    intent = pay(client, 1000)
    admin.post(
        "/refund_outcomes", json={"status": "failed", "times": 1, "failure_reason": "lost_or_stolen_card"}
    ).raise_for_status()
    failed = client.v1.refunds.create({"payment_intent": intent.id, "amount": 600})
    assert (failed.status, failed.failure_reason) == ("failed", "lost_or_stolen_card")
    assert failed.failure_balance_transaction.startswith("txn_")

    admin.post("/refund_outcomes", json={"status": "requires_action", "times": 1}).raise_for_status()
    waiting = client.v1.refunds.create({"payment_intent": intent.id, "amount": 600})  # failed one held nothing
    assert waiting.status == "requires_action" and waiting.next_action.type == "display_details"
    moved = admin.post(f"/refunds/{waiting.id}/transition", json={"status": "succeeded"})
    assert moved.json()["status"] == "succeeded"
    assert client.v1.refunds.retrieve(waiting.id).status == "succeeded"

    # A refund that fails after it succeeded gives its amount back.
    admin.post(f"/refunds/{waiting.id}/transition", json={"status": "failed"}).raise_for_status()
    refetched = client.v1.refunds.retrieve(waiting.id)
    assert (refetched.status, refetched.failure_reason) == ("failed", "expired_or_canceled_card")
    assert client.v1.refunds.create({"payment_intent": intent.id}).amount == 1000
    assert admin.post(f"/refunds/{waiting.id}/transition", json={"status": "succeeded"}).status_code == 409


async def test_server_errors_are_retried_into_exactly_one_refund(base_url: str, admin: httpx.Client) -> None:
    client = make_client(base_url, max_network_retries=2)
    intent = pay(client)
    fault = {"method": "POST", "path": "/v1/refunds", "status": 500, "times": 2}
    (await asyncio.to_thread(admin.post, "/faults", json=fault)).raise_for_status()
    refund = await client.v1.refunds.create_async({"payment_intent": intent.id})
    assert refund.status == "succeeded"
    assert refund_count(admin) == 1


def test_injected_faults_map_to_sdk_errors(client: stripe.StripeClient, admin: httpx.Client) -> None:
    intent = pay(client)
    admin.post("/faults", json={"path": "/v1/refunds", "status": 429}).raise_for_status()
    with pytest.raises(stripe.RateLimitError):
        client.v1.refunds.create({"payment_intent": intent.id})
    admin.post("/faults", json={"path": "/v1/refunds", "status": 503}).raise_for_status()
    with pytest.raises(stripe.APIError):
        client.v1.refunds.create({"payment_intent": intent.id})
    assert refund_count(admin) == 0


@pytest.mark.parametrize("api_key", ["sk_live_0123456789abcdef", "pk_test_0123456789abcdef", "sandbox"])
def test_wrong_key_is_refused(base_url: str, api_key: str) -> None:
    client = make_client(base_url, api_key=api_key)
    with pytest.raises(stripe.AuthenticationError) as refused:
        client.v1.payment_intents.create({"amount": 1000, "currency": "usd"})
    assert refused.value.http_status == 401
    with pytest.raises(stripe.AuthenticationError):
        client.v1.refunds.list()


def test_missing_key_is_refused(base_url: str) -> None:
    # The SDK cannot send a request without a key, so this one goes over plain HTTP.
    response = httpx.post(f"{base_url}/v1/refunds", data={"payment_intent": "pi_x"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
