"""Activities of a return: thin adapters from the workflow to one integration each.

Each one translates the workflow's model, calls its integration and turns a classified
`IntegrationError` into an `ApplicationError` whose type the workflow and operators see
(`stripe.charge_already_refunded`, `shippo.http_400`, ...). Permanent errors are
non-retryable, so a bad request never becomes a retry storm.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from integrations.errors import IntegrationError
from integrations.inventory import InventoryService
from integrations.shippo_labels import ShippoLabels
from integrations.stripe_payments import StripePayments
from workflows.models import (
    ActivityName,
    Label,
    LabelRequest,
    RefundReceipt,
    RefundRequest,
    RestockReceipt,
    RestockRequest,
)

log = structlog.get_logger(__name__)


@contextlib.contextmanager
def _vendor_errors() -> Iterator[None]:
    try:
        yield
    except IntegrationError as error:
        raise ApplicationError(
            error.message, {"vendor": error.vendor, "status": error.status}, type=error.code, non_retryable=not error.retryable
        ) from error


def _logger(return_id: str) -> structlog.stdlib.BoundLogger:
    info = activity.info()
    return log.bind(
        return_id=return_id, activity=info.activity_type, attempt=info.attempt, workflow_id=info.workflow_id
    )


class ReturnActivities:
    def __init__(self, labels: ShippoLabels, payments: StripePayments, inventory: InventoryService):
        self._labels = labels
        self._payments = payments
        self._inventory = inventory

    @activity.defn(name=ActivityName.buy_return_label)
    async def buy_return_label(self, request: LabelRequest) -> Label:
        logger = _logger(request.return_id)
        with _vendor_errors():
            # Only a retry can find a label bought by an attempt that died before returning.
            label = await self._labels.buy_return_label(request, look_for_earlier_purchase=activity.info().attempt > 1)
        logger.info("return label ready", transaction_id=label.transaction_id, tracking_number=label.tracking_number)
        return label

    @activity.defn(name=ActivityName.restock_line)
    async def restock_line(self, request: RestockRequest) -> RestockReceipt:
        logger = _logger(request.return_id)
        with _vendor_errors():
            receipt = await self._inventory.restock(request)
        logger.info("restocked", line_id=request.line_id, sku=request.sku, quantity=request.quantity)
        return receipt

    @activity.defn(name=ActivityName.refund_payment)
    async def refund_payment(self, request: RefundRequest) -> RefundReceipt:
        logger = _logger(request.return_id)
        with _vendor_errors():
            receipt = await self._payments.refund(request)
        logger.info("refund issued", refund_id=receipt.refund_id, amount=receipt.amount, currency=receipt.currency)
        return receipt

    def all(self) -> list:
        return [self.buy_return_label, self.restock_line, self.refund_payment]
