"""The return's public contract: what goes in, what comes out, what can be said to it.

Everything here crosses the wire through the pydantic data converter and is stored in
workflow history forever, so it stays small: no label files or photos, only URLs.
Money is always an integer in minor units (cents) with an ISO 4217 currency.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
MinorUnits = Annotated[int, Field(ge=0, description="amount in minor units, e.g. cents")]


class Contract(BaseModel):
    """Base for every model of the contract: strict about unknown fields, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- Vocabulary --------------------------------------------------------------------------


class Stage(StrEnum):
    """Where a return is. Stages only move forward; the order below is that direction."""

    requested = "requested"  # accepted, nothing bought yet
    label_issued = "label_issued"  # prepaid label bought, waiting for the first carrier scan
    in_transit = "in_transit"  # the carrier has the parcel
    delivered = "delivered"  # the carrier delivered it to the warehouse
    inspecting = "inspecting"  # the warehouse graded every line
    resolving = "resolving"  # restocking and refunding
    completed = "completed"  # refunded; nothing left to do


class ReasonCode(StrEnum):
    size_too_small = "size_too_small"
    size_too_large = "size_too_large"
    unwanted = "unwanted"
    not_as_described = "not_as_described"
    wrong_item = "wrong_item"
    defective = "defective"
    damaged_in_transit = "damaged_in_transit"
    style = "style"
    color = "color"
    other = "other"


class TrackingStatus(StrEnum):
    """Shippo's tracking statuses, the carrier-neutral vocabulary of scans."""

    pre_transit = "PRE_TRANSIT"
    transit = "TRANSIT"
    delivered = "DELIVERED"
    returned = "RETURNED"
    failure = "FAILURE"
    unknown = "UNKNOWN"


class Grade(StrEnum):
    """Inspection grade of one returned line."""

    a = "A"  # new, resellable
    b = "B"  # opened, resellable
    c = "C"  # damaged, repairable
    d = "D"  # unusable
    wrong_item = "wrong_item"
    missing = "missing"


class Disposition(StrEnum):
    restock = "restock"
    refurbish = "refurbish"
    liquidate = "liquidate"
    recycle = "recycle"
    return_to_vendor = "return_to_vendor"
    donate = "donate"
    destroy = "destroy"


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

    @model_validator(mode="after")
    def _line_ids_unique(self) -> ReturnRequest:
        ids = [line.line_id for line in self.lines]
        if len(ids) != len(set(ids)):
            raise ValueError("line_id values must be unique within a return")
        return self


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


class LineInspection(Contract):
    line_id: Identifier
    grade: Grade
    notes: Annotated[str, StringConstraints(max_length=500)] | None = None


class InspectionReport(Contract):
    """The warehouse's grades, one per returned line."""

    inspector: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    lines: Annotated[list[LineInspection], Field(min_length=1, max_length=100)]


# --- Activity inputs and outputs ------------------------------------------------------------


class LabelRequest(Contract):
    return_id: str
    customer_address: Address
    warehouse_address: Address
    parcel: Parcel


class Label(Contract):
    """A bought return label: only references, never the file itself."""

    transaction_id: str
    label_url: str
    tracking_number: str
    carrier: str


class RestockRequest(Contract):
    return_id: str
    line_id: str
    sku: str
    quantity: int


class RestockReceipt(Contract):
    restock_id: str
    sku: str
    quantity: int


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
    status: str


# --- What the status query answers ---------------------------------------------------------


class TimelineEntry(Contract):
    at: datetime
    stage: Stage
    actor: str
    detail: str


class LineStatus(Contract):
    line_id: str
    sku: str
    quantity: int
    unit_price: int
    reason: ReasonCode
    grade: Grade | None = None
    disposition: Disposition | None = None
    restock_id: str | None = None


class ReturnStatus(Contract):
    return_id: str
    order_id: str
    customer_id: str
    stage: Stage
    currency: str
    lines: list[LineStatus]
    label: Label | None = None
    tracking_status: TrackingStatus | None = None
    inspected_by: str | None = None
    refund: RefundReceipt | None = None
    timeline: list[TimelineEntry]


class ActivityName(StrEnum):
    """Names the workflow schedules activities by, so it never imports their code."""

    buy_return_label = "buy_return_label"
    restock_line = "restock_line"
    refund_payment = "refund_payment"
