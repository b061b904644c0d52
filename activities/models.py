"""What the workflow hands its activities and what they answer: the activity layer's own types.

They cross the wire (and stay in the return's history), so they only ever grow compatibly: an
activity task scheduled by older workflow code must still be read by newer activity code.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from workflows.primitives import Address, AtTheDoor, Contract, Currency, MinorUnits, Parcel
from workflows.vocabulary import Disposition, RefundState

# --- The shop's order system ---------------------------------------------------------------


class OrderLine(Contract):
    line_id: str
    sku: str
    category: str
    quantity: int
    unit_price: int
    returnable: bool = True


class OrderPayment(Contract):
    payment_intent_id: str
    amount: int  # what it paid, in the order's currency


class OrderFacts(Contract):
    """The order as the shop's system of record has it: what is refunded, to whom, how much, comes from here."""

    order_id: str
    customer_id: str
    currency: str
    delivered_at: datetime | None  # None: never delivered (e.g. a bounced parcel)
    lines: list[OrderLine]  # unit_price: what was paid per unit, after the line's discounts
    customer_return_count: int = Field(description="returns this customer started before, any order")
    payments: list[OrderPayment] = []  # in the order refunds go back to them (split tender: several)


class RequestedQuantity(Contract):
    line_id: str
    quantity: int


class ReservationRequest(Contract):
    order_id: str
    return_id: str
    lines: list[RequestedQuantity]


class ReservationRelease(Contract):
    order_id: str
    return_id: str


class ReservationLine(Contract):
    line_id: str
    requested: int
    reserved: int  # never more than bought minus what the order's other returns reserved


class QuantityReservation(Contract):
    return_id: str
    lines: list[ReservationLine]


# --- Labels, returns and money -------------------------------------------------------------


class LabelRequest(Contract):
    return_id: str
    customer_address: Address
    warehouse_address: Address
    parcel: Parcel
    qr_code: bool = False


class Label(Contract):
    """A bought return label: only references, never the file itself."""

    transaction_id: str
    label_url: str | None
    qr_code_url: str | None = None
    tracking_number: str
    carrier: str
    carrier_account: str | None = None  # labels bought before pickups were booked don't carry it


class PickupWindow(Contract):
    """When a carrier collects a parcel: a window on one day, at the address the label ships from."""

    start: AwareDatetime
    end: AwareDatetime
    instructions: Annotated[str, StringConstraints(min_length=1, max_length=200), AtTheDoor()] | None = Field(
        default=None, description="where the courier finds the parcel (e.g. 'behind the side gate')"
    )

    @model_validator(mode="after")
    def _a_window(self) -> PickupWindow:
        if not timedelta(hours=1) <= self.end - self.start <= timedelta(hours=12):
            raise ValueError("a pickup window is 1 to 12 hours long, its end after its start")
        return self


class PickupBooking(Contract):
    return_id: str
    transaction_id: str  # the return label the parcel carries
    carrier_account: str | None  # the label's carrier account; looked up from the label when None
    address: Address  # where the parcel is collected: the customer's
    window: PickupWindow


class Pickup(Contract):
    """A pickup the carrier confirmed (Shippo's answer, in UTC)."""

    pickup_id: str
    confirmation_code: str | None
    start: datetime
    end: datetime
    cancel_by: datetime | None = None  # until when the carrier takes a cancellation


class LabelVoid(Contract):
    return_id: str
    transaction_id: str


class LabelVoidReceipt(Contract):
    refund_id: str
    status: str  # Shippo's own: QUEUED, PENDING, SUCCESS, ERROR


class TrackingRegistration(Contract):
    return_id: str
    carrier: str
    tracking_number: str


class NotificationKind(StrEnum):
    label_ready = "label_ready"
    declined = "declined"
    expired = "expired"
    refunded = "refunded"
    store_credit_issued = "store_credit_issued"
    exchange_ordered = "exchange_ordered"
    cancelled = "cancelled"
    closed = "closed"  # an operator closed the return unresolved
    ship_by_reminder = "ship_by_reminder"  # a few days before the ship-by deadline, nothing scanned yet
    received = "received"  # the warehouse has the items
    pickup_booked = "pickup_booked"  # the carrier confirmed a pickup window (again, when moved)
    pickup_not_booked = "pickup_not_booked"  # the carrier refused the window: choose another or drop it off
    pickup_missed = "pickup_missed"  # the window passed and the carrier has not scanned the parcel


class SaidWhy(StrEnum):
    """Why a return ended, in the words the workflow records, for the reasons it gives itself: the
    shopper's email says them in the shopper's language (portal/words.py: WHY). An operator's own
    reason is sent as written."""

    no_line_returnable = "no line can be returned"
    rejected_in_review = "rejected in review"
    quantities_taken = "earlier returns already took these quantities"
    lost_parcel_declined = "parcel lost; operator declined to resolve"
    cancelled_on_the_portal = "cancelled by the shopper on the portal"


class ShopperNotification(Contract):
    return_id: str
    customer_id: str
    kind: NotificationKind
    detail: str


class ShopperEmail(Contract):
    """What the return's workflow tells the shopper by email; the address is the order's (the shop
    platform's record), looked up when it is sent, never carried here."""

    return_id: str
    order_id: str
    kind: NotificationKind
    language: str | None = None  # the portal's language when the shopper started it; else English
    amount: MinorUnits | None = None  # refunded or credited
    currency: Currency | None = None
    until: datetime | None = None  # the ship-by deadline (label ready, reminder)
    detail: str = ""  # why (declined, cancelled, closed)


class RestockReceipt(Contract):
    restock_id: str
    sku: str
    quantity: int


class RestockReversal(Contract):
    return_id: str
    line_id: str
    restock_id: str


class DispositionRequest(Contract):
    return_id: str
    line_id: str
    sku: str
    quantity: int
    disposition: Disposition


class DispositionReceipt(Contract):
    work_order_id: str
    disposition: Disposition


class WorkOrderCompletion(Contract):
    return_id: str
    line_id: str
    work_order_id: str
    completed_by: str


class RefundRequest(Contract):
    return_id: str
    order_id: str
    payment_intent_id: str
    amount: MinorUnits
    currency: Currency
    idempotency_key: str


class RefundReceipt(Contract):
    refund_id: str
    amount: int
    currency: str
    status: RefundState
    failure_reason: str | None = None


class StoreCreditRequest(Contract):
    return_id: str
    customer_id: str
    amount: MinorUnits
    currency: Currency
    idempotency_key: str


class StoreCreditReceipt(Contract):
    credit_id: str
    amount: int
    currency: str


class ExchangeRequest(Contract):
    return_id: str
    order_id: str
    customer_id: str
    line_id: str
    sku: str
    quantity: int
    idempotency_key: str


class ExchangeReceipt(Contract):
    exchange_order_id: str | None  # None: the variant is out of stock
    sku: str
    quantity: int


# --- Outbound webhooks: a subscription's deliveries of return events ----------------------------


class DeliveryRetry(Contract):
    """How a failing delivery is retried: exponential backoff from `initial_seconds`, doubling up to
    `max_seconds`, for at most `give_up_after_seconds` from its first attempt (settings: WEBHOOK_*)."""

    initial_seconds: float
    max_seconds: float
    give_up_after_seconds: float


class QueuedDelivery(Contract):
    delivery_id: int
    sequence: int  # the event's, within its return: deliveries go out in this order


class DeliveryAttempt(Contract):
    delivery_id: int
    backoff_seconds: float  # the wait before the next attempt, unless the receiver says (Retry-After)
    give_up_at: datetime  # no attempt after this: the delivery fails for good, the subscription is disabled


class DeliveryVerdict(StrEnum):
    delivered = "delivered"
    retry = "retry"
    failed = "failed"  # for good: a 4xx other than 408/429, too long failing, or the subscription disabled
    waiting = "waiting"  # not sent: an earlier event of the return has not gone out (or been stored) yet


class AttemptOutcome(Contract):
    verdict: DeliveryVerdict
    retry_in_seconds: float | None = None  # with `retry`
