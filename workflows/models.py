"""The return's public contract: what goes in, what can be said to it, what it answers.

Everything here crosses the wire through the pydantic data converter and is stored in
workflow history, so it stays small: no label files or photos, only URLs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from activities.models import ExchangeReceipt, Label, Pickup, PickupWindow, RefundReceipt, StoreCreditReceipt
from workflows.policy import ReturnPolicy
from workflows.primitives import Actor, Address, AtTheDoor, Contract, Currency, Identifier, MinorUnits, Parcel, Reason
from workflows.vocabulary import (
    Deadline,
    Decision,
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
    WayOut,
)

# An inspection's photos are links to where the warehouse keeps them, never the images.
PhotoUrl = Annotated[str, AtTheDoor(max_length=2048, pattern=r"^https?://\S+$")]

# --- Input ---------------------------------------------------------------------------


class ReturnLine(Contract):
    line_id: Identifier = Field(description="the order line being returned")
    sku: Annotated[str, StringConstraints(min_length=1, max_length=64), AtTheDoor()]
    quantity: Annotated[int, Field(ge=1, le=1000)]
    unit_price: MinorUnits | None = Field(
        default=None, description="price paid per unit (minor units): the order's; a different one is refused"
    )
    reason: ReasonCode
    exchange_sku: Annotated[str, StringConstraints(min_length=1, max_length=64), AtTheDoor()] | None = Field(
        default=None, description="the variant wanted in exchange (resolution `exchange`)"
    )
    photo_urls: Annotated[list[PhotoUrl], Field(max_length=3)] = Field(
        default=[], description="the shopper's photos of the item: links to where they are kept, never the images"
    )
    comment: Annotated[str, StringConstraints(min_length=1, max_length=500), AtTheDoor()] | None = Field(
        default=None, description="the shopper's own words about the item (one line)"
    )


class ReturnRequest(Contract):
    """What a storefront sends to start a return."""

    return_id: Identifier = Field(description="the shop's id for this return; one workflow per id")
    order_id: Identifier
    # The money facts are the order's (the shop platform's record): the doors fill them in, and
    # refuse a request that names others. Requests may leave them out.
    customer_id: Identifier | None = Field(default=None, description="the order's customer")
    currency: Currency | None = Field(default=None, description="the order's currency")
    payment_intent_id: Annotated[str, StringConstraints(pattern=r"^pi_[A-Za-z0-9_]+$")] | None = Field(
        default=None, description="one of the order's Stripe payments; refunds go back to the order's payments"
    )
    lines: Annotated[list[ReturnLine], Field(min_length=1, max_length=100)]
    customer_address: Address = Field(description="where the parcel is shipped from")
    warehouse_address: Address = Field(description="where the parcel is shipped to")
    parcel: Parcel = Parcel()
    method: ReturnMethod = ReturnMethod.mail_label
    resolution: ResolutionKind = ResolutionKind.refund
    qr_code: bool = Field(default=False, description="also ask for a QR code (mail_label)")
    language: Literal["en", "de"] | None = Field(
        default=None, description="the shopper's language for the return's emails (default English)"
    )
    return_to_origin: bool = Field(
        default=False, description="an outbound parcel bounced back: no label, straight to receiving"
    )
    pickup: PickupWindow | None = Field(
        default=None,
        description="method pickup: when the carrier is to collect the parcel from customer_address (needed to start)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ReturnRequest:
        ids = [line.line_id for line in self.lines]
        if len(ids) != len(set(ids)):
            raise ValueError("line_id values must be unique within a return")
        if self.pickup is not None and self.method is not ReturnMethod.pickup:
            raise ValueError("a pickup window goes with method pickup only")
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


# --- Events sent to a running return (signals) ----------------------------------------------


class CarrierScan(Contract):
    """A tracking update for the return parcel, from the carrier webhook or a poll."""

    event_id: Annotated[str, StringConstraints(min_length=1, max_length=128), AtTheDoor()] = Field(
        description="unique per carrier event; a repeated id is ignored"
    )
    status: TrackingStatus
    occurred_at: datetime
    substatus: Annotated[str, AtTheDoor(max_length=128)] | None = None
    location: Annotated[str, AtTheDoor(max_length=200)] | None = None


class ReceivedLine(Contract):
    line_id: Identifier
    quantity: Annotated[int, Field(ge=0, le=1000)]
    wrong_item: bool = False


class ParcelReceipt(Contract):
    """The warehouse (or a store) received a parcel of this return; several may come."""

    receipt_id: Annotated[str, StringConstraints(min_length=1, max_length=128), AtTheDoor()]
    received_by: Actor
    lines: Annotated[list[ReceivedLine], Field(min_length=1, max_length=100)]


class LineInspection(Contract):
    line_id: Identifier
    grade: Grade
    notes: Annotated[str, StringConstraints(max_length=500), AtTheDoor()] | None = None
    photo_urls: Annotated[list[PhotoUrl], Field(max_length=10)] = []
    disposition_override: Disposition | None = None
    override_reason: Reason | None = None
    fault_confirmed: bool | None = Field(
        default=None,
        description="the inspector's finding on the shop fault the shopper declared (not as described, wrong item):"
        " true confirms it, false denies it; unset: the grade decides (a damaged item bears out defective)",
    )


class InspectionReport(Contract):
    """The warehouse's grades, one per returned line."""

    inspector: Actor
    lines: Annotated[list[LineInspection], Field(min_length=1, max_length=100)]


class DispositionConfirmation(Contract):
    """The warehouse confirms a line's disposition work is done (refurbished, shipped to the liquidator...)."""

    line_id: Identifier
    confirmed_by: Actor


class PaymentUpdate(Contract):
    """A refund's new status, from the Stripe webhook or a poll."""

    refund_id: Annotated[str, AtTheDoor(max_length=255)]
    status: RefundState
    failure_reason: Annotated[str, AtTheDoor(max_length=200)] | None = None


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


class OtherWay(OperatorAction):
    """An operator resolves a step that failed for good another way than retrying it."""

    way: WayOut


class PickupChange(OperatorAction):
    """The shopper (or the shop for them) moves the carrier pickup to another window."""

    window: PickupWindow


class DeadlineExtension(OperatorAction):
    deadline: Deadline = Field(description="a deadline shown running in status.deadlines")
    days: Annotated[int, Field(ge=1, le=90)]


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
    shopper_photo_urls: list[str] = []  # the shopper's photos of the item, as the request gave them
    shopper_comment: str | None = None  # the shopper's words about the item, as the request gave them
    declined: DeclineReason | None = None
    reception: Reception = Reception.awaiting
    received_quantity: int = 0  # units of this line that came back
    wrong_item_quantity: int = 0  # units received under this line that turned out to be something else
    grade: Grade | None = None
    inspection_notes: str | None = None  # the inspector's
    inspection_photo_urls: list[str] = []  # the inspector's photos of the item: links, never the images
    disposition: Disposition | None = None
    disposition_override_reason: str | None = None
    fault_confirmed: bool | None = None  # the inspection bears out the shop fault the shopper declared
    disposition_work_id: str | None = None  # restock id or disposition work order id
    disposition_confirmed_by: str | None = None  # who confirmed the work order done (not for restocks)
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
    refund: RefundReceipt | None = None  # the first refund (of `refunds`)
    refunds: list[RefundReceipt] = []  # to each of the order's payments refunded (split tender: several)
    instant_refund: RefundReceipt | None = None
    store_credit: StoreCreditReceipt | None = None
    exchanges: list[ExchangeReceipt] = []


class StepRetry(Contract):
    """A step the server is retrying right now (its earlier attempts failed), before it ever needs an operator."""

    activity: str
    attempt: int
    last_error: str | None
    next_attempt_at: datetime | None = None


class PickupStatus(Contract):
    """A carrier pickup: the window the shopper asked for last and the carrier's booking of it."""

    wanted: PickupWindow | None = Field(description="None once the shopper cancelled the pickup")
    booked: Pickup | None = Field(default=None, description="the carrier's confirmation of the window wanted")
    released: list[Pickup] = Field(
        default=[], description="earlier bookings given up: the shop tells the carrier (their confirmation codes)"
    )
    missed: bool = Field(default=False, description="the booked window passed without a carrier scan")


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
    awaiting_decision: Decision | None = Field(default=None, description="what an operator's approve/reject decides")
    retrying: StepRetry | None = Field(
        default=None, description="a step being retried now; the doors fill it in from the server, not the workflow"
    )
    deadlines: dict[str, datetime] = {}
    pickup: PickupStatus | None = Field(default=None, description="method pickup: the window asked for and booked")
    policy_version: str
    timeline: list[TimelineEntry]

    @property
    def refund(self) -> RefundReceipt | None:
        return self.resolution.refund if self.resolution else None


class Acknowledgement(Contract):
    """What an action answers: it was accepted, and the stage the return was in. Small on purpose:
    an update's answer is kept in the return's history (the status query tells the rest)."""

    return_id: str
    action: str
    stage: Stage
