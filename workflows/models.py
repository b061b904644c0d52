"""The return's public contract: what goes in, what comes out, what can be said to it.

Everything here crosses the wire through the pydantic data converter and is stored in
workflow history forever, so it stays small: no label files or photos, only URLs.
Money is always an integer in minor units (cents) with an ISO 4217 currency.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from workflows.policy import ReturnPolicy
from workflows.vocabulary import (  # noqa: F401  (re-exported: the contract speaks this vocabulary)
    CLOSED_STAGES,
    DeclineReason,
    Disposition,
    Grade,
    ReasonCode,
    Reception,
    RefundState,
    ResolutionKind,
    ReturnMethod,
    Stage,
    TrackingStatus,
)

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
MinorUnits = Annotated[int, Field(ge=0, description="amount in minor units, e.g. cents")]
Actor = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class Contract(BaseModel):
    """Base for every model of the contract: strict about unknown fields, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- Input ---------------------------------------------------------------------------


class Address(Contract):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    street1: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    street2: str | None = None
    city: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    state: str | None = None
    zip: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    email: str | None = None
    phone: str | None = None


class Parcel(Contract):
    length_cm: Annotated[float, Field(gt=0, le=300)] = 30
    width_cm: Annotated[float, Field(gt=0, le=300)] = 20
    height_cm: Annotated[float, Field(gt=0, le=300)] = 10
    weight_kg: Annotated[float, Field(gt=0, le=70)] = 1


class ReturnLine(Contract):
    line_id: Identifier = Field(description="the order line being returned")
    sku: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(ge=1, le=1000)]
    unit_price: MinorUnits = Field(description="price paid per unit, minor units")
    reason: ReasonCode
    exchange_sku: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="the variant wanted in exchange (resolution `exchange`)"
    )


class ReturnRequest(Contract):
    """What a storefront sends to start a return."""

    return_id: Identifier = Field(description="the shop's id for this return; one workflow per id")
    order_id: Identifier
    customer_id: Identifier
    currency: Currency
    payment_intent_id: Annotated[str, StringConstraints(pattern=r"^pi_[A-Za-z0-9_]+$")] = Field(
        description="the Stripe payment the refund goes back to"
    )
    lines: Annotated[list[ReturnLine], Field(min_length=1, max_length=100)]
    customer_address: Address = Field(description="where the parcel is shipped from")
    warehouse_address: Address = Field(description="where the parcel is shipped to")
    parcel: Parcel = Parcel()
    method: ReturnMethod = ReturnMethod.mail_label
    resolution: ResolutionKind = ResolutionKind.refund
    qr_code: bool = Field(default=False, description="also ask for a QR code (mail_label)")
    return_to_origin: bool = Field(
        default=False, description="an outbound parcel bounced back: no label, straight to receiving"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ReturnRequest:
        ids = [line.line_id for line in self.lines]
        if len(ids) != len(set(ids)):
            raise ValueError("line_id values must be unique within a return")
        if self.resolution is ResolutionKind.exchange and any(line.exchange_sku is None for line in self.lines):
            raise ValueError("an exchange needs exchange_sku on every line")
        return self


class StartReturn(Contract):
    """The workflow's input: the shop's request and the policy in force when it started.

    The policy is copied into the return, so editing the policy file never changes a
    return that is already running.
    """

    request: ReturnRequest
    policy: ReturnPolicy


# --- Facts from the shop's order system (an activity loads them) ---------------------------


class OrderLine(Contract):
    line_id: str
    sku: str
    category: str
    quantity: int
    unit_price: int
    returnable: bool = True


class OrderFacts(Contract):
    order_id: str
    customer_id: str
    currency: str
    delivered_at: datetime | None  # None: never delivered (e.g. a bounced parcel)
    lines: list[OrderLine]
    customer_return_count: int = Field(description="returns this customer started before, any order")


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


# --- Events sent to a running return (signals) ----------------------------------------------


class CarrierScan(Contract):
    """A tracking update for the return parcel, from the carrier webhook or a poll."""

    event_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="unique per carrier event; a repeated id is ignored"
    )
    status: TrackingStatus
    occurred_at: datetime
    substatus: str | None = None
    location: str | None = None


class ReceivedLine(Contract):
    line_id: Identifier
    quantity: Annotated[int, Field(ge=0, le=1000)]
    wrong_item: bool = False


class ParcelReceipt(Contract):
    """The warehouse (or a store) received a parcel of this return; several may come."""

    receipt_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    received_by: Actor
    lines: Annotated[list[ReceivedLine], Field(min_length=1, max_length=100)]


class LineInspection(Contract):
    line_id: Identifier
    grade: Grade
    notes: Annotated[str, StringConstraints(max_length=500)] | None = None
    photo_urls: Annotated[list[str], Field(max_length=10)] = []
    disposition_override: Disposition | None = None
    override_reason: Reason | None = None


class InspectionReport(Contract):
    """The warehouse's grades, one per returned line."""

    inspector: Actor
    lines: Annotated[list[LineInspection], Field(min_length=1, max_length=100)]


class PaymentUpdate(Contract):
    """A refund's new status, from the Stripe webhook or a poll."""

    refund_id: str
    status: RefundState
    failure_reason: str | None = None


# --- Operator actions (updates) ----------------------------------------------------------------


class OperatorAction(Contract):
    actor: Actor
    reason: Reason


class Cancellation(OperatorAction):
    requested_by: Literal["shopper", "operator"] = Field(
        description="a shopper may cancel only before the parcel ships; an operator until money moves"
    )


class DispositionOverride(OperatorAction):
    line_id: Identifier
    disposition: Disposition


class DeadlineExtension(OperatorAction):
    deadline: str = Field(description="the name of a deadline shown in status.deadlines")
    days: Annotated[int, Field(ge=1, le=90)]


# --- Activity inputs and outputs ------------------------------------------------------------


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


class ShopperNotification(Contract):
    return_id: str
    customer_id: str
    kind: NotificationKind
    detail: str


class RestockRequest(Contract):
    return_id: str
    line_id: str
    sku: str
    quantity: int


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


# --- What the status query answers ---------------------------------------------------------


class TimelineEntry(Contract):
    at: datetime
    stage: Stage
    actor: str
    detail: str


class LineStatus(Contract):
    line_id: str
    sku: str
    quantity: int  # accepted for return (after eligibility and reservation)
    unit_price: int
    reason: ReasonCode
    category: str | None = None
    exchange_sku: str | None = None
    declined: DeclineReason | None = None
    reception: Reception = Reception.awaiting
    received_quantity: int = 0  # units of this line that came back
    wrong_item_quantity: int = 0  # units received under this line that turned out to be something else
    grade: Grade | None = None
    disposition: Disposition | None = None
    disposition_override_reason: str | None = None
    disposition_work_id: str | None = None  # restock id or disposition work order id
    restock_reversed: bool = False


class Attention(Contract):
    """Why a return waits for an operator, and what they can do about it."""

    reason: str
    step: str | None = None  # the failed step an operator's `retry` runs again
    error_type: str | None = None
    message: str | None = None
    since: datetime


class Resolution(Contract):
    kind: ResolutionKind
    amount: int  # what the shopper gets back (store credit includes any bonus)
    fees: int
    refund: RefundReceipt | None = None
    instant_refund: RefundReceipt | None = None
    store_credit: StoreCreditReceipt | None = None
    exchanges: list[ExchangeReceipt] = []


class ReturnStatus(Contract):
    return_id: str
    order_id: str
    customer_id: str
    stage: Stage
    method: ReturnMethod
    currency: str
    lines: list[LineStatus]
    label: Label | None = None
    label_voided: bool = False
    tracking_status: TrackingStatus | None = None
    inspected_by: str | None = None
    resolution: Resolution | None = None
    attention: Attention | None = None
    deadlines: dict[str, datetime] = {}
    policy_version: str
    timeline: list[TimelineEntry]

    @property
    def refund(self) -> RefundReceipt | None:
        return self.resolution.refund if self.resolution else None


class ActivityName(StrEnum):
    """Names the workflow schedules activities by, so it never imports their code."""

    load_order = "load_order"
    reserve_quantities = "reserve_quantities"
    release_quantities = "release_quantities"
    buy_return_label = "buy_return_label"
    register_tracking = "register_tracking"
    void_label = "void_label"
    notify_shopper = "notify_shopper"
    restock_line = "restock_line"
    reverse_restock = "reverse_restock"
    refund_payment = "refund_payment"
    get_refund = "get_refund"
    issue_store_credit = "issue_store_credit"
    order_exchange = "order_exchange"


def disposition_activity(disposition: Disposition) -> str:
    """Each disposition other than restock has its own activity: `dispose_<disposition>`."""
    return ActivityName.restock_line if disposition is Disposition.restock else f"dispose_{disposition.value}"
