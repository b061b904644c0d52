"""StripePayments against the Stripe sandbox: refund accounting, idempotency, failures."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from activities.models import RefundReceipt, RefundRequest
from activities.payments import refund_receipt
from devstack.checkout import charge_shopper
from integrations.errors import IntegrationError
from integrations.stripe_payments import StripePayments
from workflows.vocabulary import RefundState

if TYPE_CHECKING:
    from tests.conftest import Sandboxes


@pytest.fixture(autouse=True)
def no_faults_left(sandboxes: Sandboxes) -> Iterator[None]:
    yield
    httpx.delete(f"{sandboxes.stripe_url}/_sandbox/faults", timeout=10).raise_for_status()


@pytest.fixture
def payments(sandboxes: Sandboxes) -> StripePayments:
    # No SDK retries: each call below is one attempt, as Temporal's retries would make them.
    return StripePayments(sandboxes.settings(stripe_max_network_retries=0))


async def new_payment(sandboxes: Sandboxes, amount: int = 10_000) -> str:
    return await charge_shopper(sandboxes.settings(), amount)


async def refund(payments: StripePayments, request: RefundRequest) -> RefundReceipt:
    """What the refund activity asks of StripePayments, and what it answers the workflow."""
    return refund_receipt(
        await payments.refund(
            request.payment_intent_id,
            request.amount,
            request.currency,
            idempotency_key=request.idempotency_key,
            metadata={"return_id": request.return_id, "order_id": request.order_id},
        )
    )


def refund_request(payment_intent_id: str, amount: int, *, currency: str = "USD") -> RefundRequest:
    """A refund for a new return (the sandbox keeps idempotency keys across tests)."""
    return_id = f"R-{uuid.uuid4().hex[:12]}"
    return RefundRequest(
        return_id=return_id,
        order_id="O-1",
        payment_intent_id=payment_intent_id,
        amount=amount,
        currency=currency,
        idempotency_key=f"return:{return_id}:refund:1",
    )


def refunds_at_stripe(sandboxes: Sandboxes, payment_intent_id: str) -> list[dict]:
    refunds = sandboxes.admin("stripe", "/_sandbox/refunds")
    assert isinstance(refunds, list)
    return [refund for refund in refunds if refund["payment_intent"] == payment_intent_id]


def post_admin(sandboxes: Sandboxes, path: str, body: dict) -> None:
    httpx.post(f"{sandboxes.stripe_url}/_sandbox{path}", json=body, timeout=10).raise_for_status()


@pytest.mark.parametrize(
    ("outcome", "status", "failure_reason"),
    [
        (None, RefundState.succeeded, None),
        ("pending", RefundState.pending, None),
        ("requires_action", RefundState.requires_action, None),
        ("failed", RefundState.failed, "insufficient_funds"),
    ],
)
async def test_refund_reports_amount_and_status(
    sandboxes: Sandboxes, payments: StripePayments, outcome: str | None, status: RefundState, failure_reason: str | None
) -> None:
    payment = await new_payment(sandboxes)
    if outcome is not None:
        post_admin(sandboxes, "/refund_outcomes", {"status": outcome, "failure_reason": "insufficient_funds"})
    request = refund_request(payment, 2500)
    receipt = await refund(payments, request)
    assert receipt == RefundReceipt(
        refund_id=receipt.refund_id, amount=2500, currency="USD", status=status, failure_reason=failure_reason
    )
    [stored] = refunds_at_stripe(sandboxes, payment)
    assert stored["metadata"] == {
        "return_id": request.return_id,
        "order_id": "O-1",
        "idempotency_key": request.idempotency_key,
    }


async def test_same_idempotency_key_twice_makes_one_refund(sandboxes: Sandboxes, payments: StripePayments) -> None:
    payment = await new_payment(sandboxes)
    request = refund_request(payment, 2500)
    first = await refund(payments, request)
    # Stripe keeps keys for 24 h only; the metadata finds the refund without asking Stripe to
    # create it again: the fault below would fail any POST.
    sandboxes.fault("stripe", method="POST", path="/v1/refunds", status=500)
    again = await refund(payments, request)
    assert again == first
    assert len(refunds_at_stripe(sandboxes, payment)) == 1


async def test_concurrent_attempts_share_the_idempotency_key(sandboxes: Sandboxes, payments: StripePayments) -> None:
    """Racing attempts can both miss the metadata look-up; Stripe's idempotency key still makes one refund."""
    payment = await new_payment(sandboxes)
    request = refund_request(payment, 2500)
    first, second = await asyncio.gather(refund(payments, request), refund(payments, request))
    assert first.refund_id == second.refund_id
    assert len(refunds_at_stripe(sandboxes, payment)) == 1


async def test_amount_guard_across_two_returns_of_one_payment(sandboxes: Sandboxes, payments: StripePayments) -> None:
    payment = await new_payment(sandboxes, 10_000)
    first = await refund(payments, refund_request(payment, 6000))
    second_return = refund_request(payment, 5000)

    with pytest.raises(IntegrationError) as refused:
        await refund(payments, second_return)
    assert (refused.value.code, refused.value.retryable) == ("stripe.amount_exceeds_remaining", False)
    assert len(refunds_at_stripe(sandboxes, payment)) == 1  # refused before Stripe was asked

    # A refund that failed gives its amount back to the payment.
    post_admin(sandboxes, f"/refunds/{first.refund_id}/transition", {"status": "failed"})
    second = await refund(payments, second_return)
    assert (second.amount, second.status) == (5000, RefundState.succeeded)
    assert len(refunds_at_stripe(sandboxes, payment)) == 2


async def test_currency_other_than_the_payments_is_refused(sandboxes: Sandboxes, payments: StripePayments) -> None:
    payment = await new_payment(sandboxes)
    with pytest.raises(IntegrationError) as refused:
        await refund(payments, refund_request(payment, 1000, currency="EUR"))
    assert (refused.value.code, refused.value.retryable) == ("stripe.currency_mismatch", False)
    assert refunds_at_stripe(sandboxes, payment) == []


async def test_charge_already_refunded_is_permanent(
    sandboxes: Sandboxes, payments: StripePayments, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone refunds the whole payment between our check and our refund: Stripe has the last word."""
    payment = await new_payment(sandboxes, 3000)
    intents = payments._client.v1.payment_intents
    retrieve = intents.retrieve_async

    async def retrieve_then_refund_elsewhere(*args: object, **kwargs: object) -> object:
        intent = await retrieve(*args, **kwargs)  # type: ignore[arg-type]
        await payments._client.v1.refunds.create_async({"payment_intent": payment})
        return intent

    monkeypatch.setattr(intents, "retrieve_async", retrieve_then_refund_elsewhere)
    with pytest.raises(IntegrationError) as refused:
        await refund(payments, refund_request(payment, 1000))
    assert (refused.value.code, refused.value.retryable, refused.value.status) == (
        "stripe.charge_already_refunded",
        False,
        400,
    )


async def test_server_errors_are_retryable_until_stripe_recovers(
    sandboxes: Sandboxes, payments: StripePayments
) -> None:
    payment = await new_payment(sandboxes)
    sandboxes.fault("stripe", method="POST", path="/v1/refunds", status=500, times=3)
    request = refund_request(payment, 4000)
    for _ in range(3):  # what Temporal's retries would do
        with pytest.raises(IntegrationError) as failed:
            await refund(payments, request)
        assert (failed.value.retryable, failed.value.status) == (True, 500)
    receipt = await refund(payments, request)
    assert receipt.status is RefundState.succeeded
    assert [refund["id"] for refund in refunds_at_stripe(sandboxes, payment)] == [receipt.refund_id]


async def test_get_refund_sees_a_later_failure(sandboxes: Sandboxes, payments: StripePayments) -> None:
    payment = await new_payment(sandboxes)
    receipt = await refund(payments, refund_request(payment, 2500))
    assert receipt.status is RefundState.succeeded
    post_admin(
        sandboxes,
        f"/refunds/{receipt.refund_id}/transition",
        {"status": "failed", "failure_reason": "lost_or_stolen_card"},
    )
    later = refund_receipt(await payments.get_refund(receipt.refund_id))
    assert (later.refund_id, later.status, later.failure_reason) == (
        receipt.refund_id,
        RefundState.failed,
        "lost_or_stolen_card",
    )


async def test_get_refund_of_an_unknown_refund_is_permanent(payments: StripePayments) -> None:
    with pytest.raises(IntegrationError) as missing:
        await payments.get_refund(f"re_{uuid.uuid4().hex}")
    assert (missing.value.code, missing.value.retryable) == ("stripe.resource_missing", False)
