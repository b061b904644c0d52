"""The shop's own platform: orders and their return quantities, stock, disposition work orders,
store credit, exchanges and the shopper's notifications."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from temporalio import activity

from activities.models import (
    DispositionReceipt,
    DispositionRequest,
    ExchangeReceipt,
    ExchangeRequest,
    OrderFacts,
    OrderLine,
    OrderPayment,
    QuantityReservation,
    ReservationLine,
    ReservationRelease,
    ReservationRequest,
    RestockReceipt,
    RestockReversal,
    ShopperNotification,
    StoreCreditReceipt,
    StoreCreditRequest,
    WorkOrderCompletion,
)
from activities.vendor_call import vendor_call
from workflows.contract import idempotency_key, line_idempotency_key
from workflows.vocabulary import Disposition

if TYPE_CHECKING:  # the workflow imports this module: keep the vendors' clients out of it
    from integrations.shop import ShopOrder, ShopPlatform


class ShopActivities:
    def __init__(self, shop: ShopPlatform):
        self._shop = shop

    # --- The order -----------------------------------------------------------------------------

    @activity.defn(name="load_order")
    async def load_order(self, order_id: str) -> OrderFacts:
        async with vendor_call():
            return order_facts(await self._shop.load_order(order_id))

    @activity.defn(name="reserve_quantities")
    async def reserve_quantities(self, request: ReservationRequest) -> QuantityReservation:
        async with vendor_call() as logger:
            reserved = await self._shop.reserve_quantities(
                request.order_id,
                request.return_id,
                [(line.line_id, line.quantity) for line in request.lines],
                key=idempotency_key(request.return_id, "reserve"),
            )
            logger.info("quantities reserved", lines={line.line_id: line.reserved for line in reserved})
            return QuantityReservation(
                return_id=request.return_id,
                lines=[ReservationLine.model_validate(line, from_attributes=True) for line in reserved],
            )

    @activity.defn(name="release_quantities")
    async def release_quantities(self, release: ReservationRelease) -> None:
        async with vendor_call():
            await self._shop.release_quantities(release.order_id, release.return_id)

    @activity.defn(name="notify_shopper")
    async def notify_shopper(self, notification: ShopperNotification) -> None:
        # The detail's digest is part of the key: a retry repeats it exactly, while a second,
        # different message of the same kind (a replacement label, say) is still sent.
        digest = hashlib.sha256(notification.detail.encode()).hexdigest()[:16]
        step = f"notify:{notification.kind.value}:{digest}"
        async with vendor_call():
            await self._shop.notify(
                notification.customer_id,
                notification.return_id,
                notification.kind.value,
                notification.detail,
                key=idempotency_key(notification.return_id, step),
            )

    # --- What happens to the items ---------------------------------------------------------------

    @activity.defn(name="restock_line")
    async def restock_line(self, request: DispositionRequest) -> RestockReceipt:
        async with vendor_call() as logger:
            restock = await self._shop.restock(
                request.sku,
                request.quantity,
                request.return_id,
                key=line_idempotency_key(request.return_id, request.line_id, "restock"),
            )
            logger.info("restocked", line_id=request.line_id, sku=request.sku, quantity=request.quantity)
            return RestockReceipt(restock_id=restock.restock_id, sku=restock.sku, quantity=restock.quantity)

    @activity.defn(name="reverse_restock")
    async def reverse_restock(self, reversal: RestockReversal) -> None:
        async with vendor_call():
            await self._shop.reverse_restock(
                reversal.restock_id,
                key=line_idempotency_key(reversal.return_id, reversal.line_id, "restock_reversal"),
            )

    # One activity per disposition, so each shows by name in histories and operators' tools.
    @activity.defn(name="dispose_refurbish")
    async def dispose_refurbish(self, request: DispositionRequest) -> DispositionReceipt:
        return await self._open_work_order(request)

    @activity.defn(name="dispose_liquidate")
    async def dispose_liquidate(self, request: DispositionRequest) -> DispositionReceipt:
        return await self._open_work_order(request)

    @activity.defn(name="dispose_recycle")
    async def dispose_recycle(self, request: DispositionRequest) -> DispositionReceipt:
        return await self._open_work_order(request)

    @activity.defn(name="dispose_return_to_vendor")
    async def dispose_return_to_vendor(self, request: DispositionRequest) -> DispositionReceipt:
        return await self._open_work_order(request)

    @activity.defn(name="dispose_donate")
    async def dispose_donate(self, request: DispositionRequest) -> DispositionReceipt:
        return await self._open_work_order(request)

    @activity.defn(name="dispose_destroy")
    async def dispose_destroy(self, request: DispositionRequest) -> DispositionReceipt:
        return await self._open_work_order(request)

    async def _open_work_order(self, request: DispositionRequest) -> DispositionReceipt:
        async with vendor_call() as logger:
            work_order_id = await self._shop.open_work_order(
                request.disposition.value,
                request.return_id,
                request.line_id,
                request.sku,
                request.quantity,
                key=line_idempotency_key(request.return_id, request.line_id, request.disposition.value),
            )
            logger.info("disposition ordered", line_id=request.line_id, disposition=request.disposition.value)
            return DispositionReceipt(work_order_id=work_order_id, disposition=request.disposition)

    @activity.defn(name="complete_work_order")
    async def complete_work_order(self, completion: WorkOrderCompletion) -> str:
        """Tells the shop platform the work is done; answers who confirmed it first (the platform keeps them)."""
        async with vendor_call():
            return await self._shop.complete_work_order(
                completion.work_order_id,
                completion.completed_by,
                key=line_idempotency_key(
                    completion.return_id, completion.line_id, f"completion:{completion.completed_by}"
                ),
            )

    # --- Resolutions other than a refund -----------------------------------------------------------

    @activity.defn(name="issue_store_credit")
    async def issue_store_credit(self, request: StoreCreditRequest) -> StoreCreditReceipt:
        async with vendor_call() as logger:
            credit = await self._shop.issue_store_credit(
                request.customer_id, request.amount, request.currency, request.return_id, key=request.idempotency_key
            )
            logger.info("store credit issued", credit_id=credit.credit_id, amount=credit.amount)
            return StoreCreditReceipt(credit_id=credit.credit_id, amount=credit.amount, currency=credit.currency)

    @activity.defn(name="order_exchange")
    async def order_exchange(self, request: ExchangeRequest) -> ExchangeReceipt:
        async with vendor_call() as logger:
            exchange = await self._shop.order_exchange(
                request.order_id,
                request.customer_id,
                request.sku,
                request.quantity,
                request.return_id,
                key=request.idempotency_key,
            )
            logger.info("exchange ordered", sku=request.sku, exchange_order_id=exchange.exchange_order_id)
            return ExchangeReceipt(
                exchange_order_id=exchange.exchange_order_id, sku=exchange.sku, quantity=exchange.quantity
            )


def order_facts(order: ShopOrder) -> OrderFacts:
    """The shop's order, as the return's rules read it."""
    return OrderFacts.model_validate(
        {
            **vars(order),
            "lines": [OrderLine.model_validate(line, from_attributes=True) for line in order.lines],
            "payments": [OrderPayment.model_validate(payment, from_attributes=True) for payment in order.payments],
        }
    )


# The work order activity of each disposition other than restock (restock puts units back on sale).
WORK_ORDER_ACTIVITIES = {
    Disposition.refurbish: ShopActivities.dispose_refurbish,
    Disposition.liquidate: ShopActivities.dispose_liquidate,
    Disposition.recycle: ShopActivities.dispose_recycle,
    Disposition.return_to_vendor: ShopActivities.dispose_return_to_vendor,
    Disposition.donate: ShopActivities.dispose_donate,
    Disposition.destroy: ShopActivities.dispose_destroy,
}
