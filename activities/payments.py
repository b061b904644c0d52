"""Refunds at Stripe."""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import activity

from activities.models import RefundReceipt, RefundRequest
from activities.vendor_call import vendor_call
from workflows.contract import REFUND_ORDER_ID_METADATA, REFUND_RETURN_ID_METADATA
from workflows.vocabulary import RefundState

if TYPE_CHECKING:  # the workflow imports this module: keep the vendor SDKs out of it
    from integrations.stripe_payments import StripePayments, StripeRefund


class PaymentActivities:
    def __init__(self, payments: StripePayments):
        self._payments = payments

    @activity.defn(name="refund_payment")
    async def refund_payment(self, request: RefundRequest) -> RefundReceipt:
        async with vendor_call() as logger:
            refund = await self._payments.refund(
                request.payment_intent_id,
                request.amount,
                request.currency,
                idempotency_key=request.idempotency_key,
                metadata={REFUND_RETURN_ID_METADATA: request.return_id, REFUND_ORDER_ID_METADATA: request.order_id},
            )
            logger.info("refund issued", refund_id=refund.refund_id, amount=refund.amount, status=refund.status)
            return refund_receipt(refund)

    @activity.defn(name="refund_what_is_left")
    async def refund_what_is_left(self, request: RefundRequest) -> RefundReceipt | None:
        """Refunds `request.amount`, or what the payment has left if less; None when nothing is left."""
        async with vendor_call() as logger:
            refund = await self._payments.refund(
                request.payment_intent_id,
                request.amount,
                request.currency,
                idempotency_key=request.idempotency_key,
                metadata={REFUND_RETURN_ID_METADATA: request.return_id, REFUND_ORDER_ID_METADATA: request.order_id},
                at_most_what_is_left=True,
            )
            if refund is None:
                logger.info("nothing left to refund", payment_intent_id=request.payment_intent_id)
                return None
            logger.info("refund issued", refund_id=refund.refund_id, amount=refund.amount, status=refund.status)
            return refund_receipt(refund)

    @activity.defn(name="get_refund")
    async def get_refund(self, refund_id: str) -> RefundReceipt:
        async with vendor_call():
            return refund_receipt(await self._payments.get_refund(refund_id))


def refund_receipt(refund: StripeRefund) -> RefundReceipt:
    return RefundReceipt(
        refund_id=refund.refund_id,
        amount=refund.amount,
        currency=refund.currency,
        status=RefundState(refund.status),
        failure_reason=refund.failure_reason,
    )
