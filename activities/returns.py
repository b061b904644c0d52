"""Activities of a return: thin adapters from the workflow to one integration each.

Each one translates the workflow's model, calls its integration and turns a classified
`IntegrationError` into an `ApplicationError` whose type the workflow and operators see
(`stripe.charge_already_refunded`, `shippo.http_400`, ...). Permanent errors are
non-retryable, so a bad request never becomes a retry storm. Every call that changes
something carries an idempotency key derived from the return, so retries are harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from integrations.errors import IntegrationError
from integrations.shippo_labels import ShippoLabels
from integrations.shop import ShopPlatform
from integrations.stripe_payments import StripePayments
from workflows.models import (
    ActivityName,
    Disposition,
    DispositionReceipt,
    DispositionRequest,
    ExchangeReceipt,
    ExchangeRequest,
    Label,
    LabelRequest,
    LabelVoid,
    LabelVoidReceipt,
    OrderFacts,
    QuantityReservation,
    RefundReceipt,
    RefundRequest,
    ReservationRelease,
    ReservationRequest,
    RestockReceipt,
    RestockRequest,
    RestockReversal,
    ShopperNotification,
    StoreCreditReceipt,
    StoreCreditRequest,
    TrackingRegistration,
    disposition_activity,
)
from workflows.return_workflow import WORKFLOW_ID_PREFIX

log = structlog.get_logger(__name__)


HEARTBEAT_EVERY_SECONDS = 3.0


async def _heartbeat_while_running() -> None:
    """Tells the server this worker is alive, so a crashed worker's attempt is retried
    after the heartbeat timeout instead of the whole start-to-close timeout."""
    while True:
        activity.heartbeat()
        await asyncio.sleep(HEARTBEAT_EVERY_SECONDS)


@contextlib.asynccontextmanager
async def _vendor_call() -> AsyncIterator[structlog.stdlib.BoundLogger]:
    """Heartbeats, binds the log line to the return and classifies the integration's failure.

    The return comes from the workflow id, so every activity logs it, even those whose
    input names only an order or a refund.
    """
    info = activity.info()
    return_id = info.workflow_id.removeprefix(WORKFLOW_ID_PREFIX)
    logger = log.bind(return_id=return_id, activity=info.activity_type, attempt=info.attempt)
    heartbeat = asyncio.create_task(_heartbeat_while_running())
    try:
        yield logger
    except IntegrationError as error:
        logger.warning("vendor call failed", error_code=error.code, retryable=error.retryable, status=error.status)
        raise ApplicationError(
            error.message,
            {"vendor": error.vendor, "status": error.status},
            type=error.code,
            non_retryable=not error.retryable,
        ) from error
    finally:
        heartbeat.cancel()


class ReturnActivities:
    def __init__(self, labels: ShippoLabels, payments: StripePayments, shop: ShopPlatform):
        self._labels = labels
        self._payments = payments
        self._shop = shop

    # --- Order ---------------------------------------------------------------------------

    @activity.defn(name=ActivityName.load_order)
    async def load_order(self, order_id: str) -> OrderFacts:
        async with _vendor_call():
            return await self._shop.load_order(order_id)

    @activity.defn(name=ActivityName.reserve_quantities)
    async def reserve_quantities(self, request: ReservationRequest) -> QuantityReservation:
        async with _vendor_call() as logger:
            reservation = await self._shop.reserve_quantities(
                request.order_id, request.return_id, [(line.line_id, line.quantity) for line in request.lines]
            )
            logger.info("quantities reserved", lines={line.line_id: line.reserved for line in reservation.lines})
            return reservation

    @activity.defn(name=ActivityName.release_quantities)
    async def release_quantities(self, release: ReservationRelease) -> None:
        async with _vendor_call():
            await self._shop.release_quantities(release.order_id, release.return_id)

    # --- Label and carrier ---------------------------------------------------------------------

    @activity.defn(name=ActivityName.buy_return_label)
    async def buy_return_label(self, request: LabelRequest) -> Label:
        async with _vendor_call() as logger:
            # Only a retry can find a label bought by an attempt that died before returning.
            label = await self._labels.buy_return_label(request, look_for_earlier_purchase=activity.info().attempt > 1)
            logger.info("return label ready", transaction_id=label.transaction_id, tracking=label.tracking_number)
            return label

    @activity.defn(name=ActivityName.register_tracking)
    async def register_tracking(self, registration: TrackingRegistration) -> None:
        async with _vendor_call():
            await self._labels.register_tracking(registration)

    @activity.defn(name=ActivityName.void_label)
    async def void_label(self, void: LabelVoid) -> LabelVoidReceipt:
        async with _vendor_call() as logger:
            receipt = await self._labels.void_label(void)
            logger.info("label voided", transaction_id=void.transaction_id, status=receipt.status)
            return receipt

    @activity.defn(name=ActivityName.notify_shopper)
    async def notify_shopper(self, notification: ShopperNotification) -> None:
        async with _vendor_call():
            await self._shop.notify(notification)

    # --- Warehouse ---------------------------------------------------------------------------

    @activity.defn(name=ActivityName.restock_line)
    async def restock_line(self, request: DispositionRequest) -> RestockReceipt:
        async with _vendor_call() as logger:
            receipt = await self._shop.restock(
                RestockRequest(
                    return_id=request.return_id, line_id=request.line_id, sku=request.sku, quantity=request.quantity
                )
            )
            logger.info("restocked", line_id=request.line_id, sku=request.sku, quantity=request.quantity)
            return receipt

    @activity.defn(name=ActivityName.reverse_restock)
    async def reverse_restock(self, reversal: RestockReversal) -> None:
        async with _vendor_call():
            await self._shop.reverse_restock(reversal)

    async def _dispose(self, request: DispositionRequest) -> DispositionReceipt:
        async with _vendor_call() as logger:
            receipt = await self._shop.dispose(request)
            logger.info("disposition ordered", line_id=request.line_id, disposition=request.disposition.value)
            return receipt

    def disposition_activities(self) -> list[Callable]:
        """One activity per disposition kind (`dispose_refurbish`, ...), so each shows by
        name in histories and can be timed and retried on its own."""

        def named(disposition: Disposition) -> Callable:
            async def dispose(request: DispositionRequest) -> DispositionReceipt:
                return await self._dispose(request)

            return activity.defn(name=disposition_activity(disposition))(dispose)

        return [named(disposition) for disposition in Disposition if disposition is not Disposition.restock]

    # --- Money ---------------------------------------------------------------------------

    @activity.defn(name=ActivityName.refund_payment)
    async def refund_payment(self, request: RefundRequest) -> RefundReceipt:
        async with _vendor_call() as logger:
            receipt = await self._payments.refund(request)
            logger.info("refund issued", refund_id=receipt.refund_id, amount=receipt.amount, status=receipt.status)
            return receipt

    @activity.defn(name=ActivityName.get_refund)
    async def get_refund(self, refund_id: str) -> RefundReceipt:
        async with _vendor_call():
            return await self._payments.get_refund(refund_id)

    @activity.defn(name=ActivityName.issue_store_credit)
    async def issue_store_credit(self, request: StoreCreditRequest) -> StoreCreditReceipt:
        async with _vendor_call() as logger:
            receipt = await self._shop.issue_store_credit(request)
            logger.info("store credit issued", credit_id=receipt.credit_id, amount=receipt.amount)
            return receipt

    @activity.defn(name=ActivityName.order_exchange)
    async def order_exchange(self, request: ExchangeRequest) -> ExchangeReceipt:
        async with _vendor_call() as logger:
            receipt = await self._shop.order_exchange(request)
            logger.info("exchange ordered", sku=request.sku, exchange_order_id=receipt.exchange_order_id)
            return receipt

    def all(self) -> list[Callable]:
        return [
            self.load_order,
            self.reserve_quantities,
            self.release_quantities,
            self.buy_return_label,
            self.register_tracking,
            self.void_label,
            self.notify_shopper,
            self.restock_line,
            self.reverse_restock,
            self.refund_payment,
            self.get_refund,
            self.issue_store_credit,
            self.order_exchange,
            *self.disposition_activities(),
        ]
