"""Found by the chaos run (issue 10): Stripe events about a keep-it return's refund were answered
`return_closed`. A refund can fail days after it succeeded (README, "Stripe facts"); a mailed return
keeps listening for the settle window; a keep-it return closed at once and never heard of it. Since
`watch-every-refund`, keep-it and lost-parcel returns listen too."""

from __future__ import annotations

from devstack.polling import wait_for_stage
from tests.integration.workflows.harness import Returns
from workflows.models import PaymentUpdate
from workflows.policy import ReturnPolicy
from workflows.vocabulary import Grade, RefundState, ReturnMethod, Stage

POLICY = ReturnPolicy(
    version="test-1", return_shipping_fee=599, restocking_fee_bp_by_grade={Grade.b: 1_000}, keep_it_below=10_000
)


async def test_a_keep_it_refund_that_fails_after_succeeding_goes_to_an_operator(harness: Returns) -> None:
    client, return_id = await harness.start(POLICY, method=ReturnMethod.keep_it)
    done = await wait_for_stage(client, return_id, Stage.completed)
    assert done.refund is not None and done.refund.status is RefundState.succeeded

    await client.record_payment_update(
        return_id,
        PaymentUpdate(refund_id=done.refund.refund_id, status=RefundState.failed, failure_reason="lost_or_stolen_card"),
    )

    failed = await harness.until(client, return_id, lambda status: status.attention is not None)
    assert "lost_or_stolen_card" in failed.attention.reason
