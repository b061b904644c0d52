"""Return labels, their voids and their tracking, at Shippo."""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import activity

from activities.models import (
    Label,
    LabelRequest,
    LabelVoid,
    LabelVoidReceipt,
    Pickup,
    PickupBooking,
    TrackingRegistration,
)
from activities.vendor_call import vendor_call
from workflows.contract import label_metadata

if TYPE_CHECKING:  # the workflow imports this module: keep the vendor SDKs out of it
    from integrations.shippo_labels import ShippoLabels


class LabelActivities:
    def __init__(self, labels: ShippoLabels):
        self._labels = labels

    @activity.defn(name="buy_return_label")
    async def buy_return_label(self, request: LabelRequest) -> Label:
        async with vendor_call() as logger:
            # Only a retry can find a label bought by an attempt that died before returning.
            label = await self._labels.buy_return_label(
                request,
                metadata=label_metadata(request.return_id),
                look_for_earlier_purchase=activity.info().attempt > 1,
            )
            logger.info("return label ready", transaction_id=label.transaction_id, tracking=label.tracking_number)
            return Label.model_validate(label, from_attributes=True)

    @activity.defn(name="register_tracking")
    async def register_tracking(self, registration: TrackingRegistration) -> None:
        async with vendor_call():
            await self._labels.register_tracking(
                registration.carrier, registration.tracking_number, metadata=label_metadata(registration.return_id)
            )

    @activity.defn(name="void_label")
    async def void_label(self, void: LabelVoid) -> LabelVoidReceipt:
        async with vendor_call() as logger:
            voided = await self._labels.void_label(void.transaction_id)
            logger.info("label voided", transaction_id=void.transaction_id, status=voided.status)
            return LabelVoidReceipt.model_validate(voided, from_attributes=True)

    @activity.defn(name="book_pickup")
    async def book_pickup(self, booking: PickupBooking) -> Pickup:
        async with vendor_call() as logger:
            pickup = await self._labels.book_pickup(
                booking.transaction_id,
                booking.carrier_account,
                booking.address,
                booking.window,
                metadata=label_metadata(booking.return_id),
            )
            logger.info("carrier pickup booked", pickup_id=pickup.pickup_id, start=pickup.start.isoformat())
            return Pickup.model_validate(pickup, from_attributes=True)
