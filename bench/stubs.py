"""Stand-ins for ReturnWorkflow's happy-path activities that answer at once, with no vendor.

A worker with these runs our workflow code, models and converter but no integration, so
`stub` against `baseline` is the cost of the workflow, and `real` against `stub` the cost
of the integrations (HTTP clients, and the sandboxes standing in for the vendors).
Answers are shaped like the sandboxes' answers to the demo return.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from activities.models import (
    DispositionReceipt,
    DispositionRequest,
    Label,
    LabelRequest,
    OrderFacts,
    QuantityReservation,
    RefundReceipt,
    RefundRequest,
    ReservationLine,
    ReservationRequest,
    RestockReceipt,
    ShopperEmail,
    ShopperNotification,
    TrackingRegistration,
)
from devstack.checkout import demo_order
from store.events import ReturnEvent
from workflows.vocabulary import Disposition, RefundState


@activity.defn(name="load_order")
async def load_order(order_id: str) -> OrderFacts:
    return demo_order(order_id, "CUS-ada", paid_with="pi_stub")


@activity.defn(name="reserve_quantities")
async def reserve_quantities(request: ReservationRequest) -> QuantityReservation:
    lines = [
        ReservationLine(line_id=line.line_id, requested=line.quantity, reserved=line.quantity) for line in request.lines
    ]
    return QuantityReservation(return_id=request.return_id, lines=lines)


@activity.defn(name="buy_return_label")
async def buy_return_label(request: LabelRequest) -> Label:
    return Label(
        transaction_id=f"txn_{request.return_id}",
        label_url=f"https://labels.example/{request.return_id}.pdf",
        tracking_number=f"TRK{request.return_id}",
        carrier="usps",
    )


@activity.defn(name="register_tracking")
async def register_tracking(registration: TrackingRegistration) -> None:
    return None


@activity.defn(name="notify_shopper")
async def notify_shopper(notification: ShopperNotification) -> None:
    return None


@activity.defn(name="email_shopper")
async def email_shopper(email: ShopperEmail) -> bool:
    return True


@activity.defn(name="restock_line")
async def restock_line(request: DispositionRequest) -> RestockReceipt:
    return RestockReceipt(
        restock_id=f"rs_{request.return_id}_{request.line_id}", sku=request.sku, quantity=request.quantity
    )


def _disposition(disposition: Disposition) -> Callable[..., Any]:
    @activity.defn(name=f"dispose_{disposition.value}")
    async def dispose(request: DispositionRequest) -> DispositionReceipt:
        return DispositionReceipt(work_order_id=f"wo_{request.return_id}_{request.line_id}", disposition=disposition)

    return dispose


@activity.defn(name="refund_payment")
async def refund_payment(request: RefundRequest) -> RefundReceipt:
    return RefundReceipt(
        refund_id=f"re_{request.return_id}",
        amount=request.amount,
        currency=request.currency,
        status=RefundState.succeeded,
    )


@activity.defn(name="refund_what_is_left")
async def refund_what_is_left(request: RefundRequest) -> RefundReceipt | None:
    return await refund_payment(request)


@activity.defn(name="record_event")
async def record_event(event: ReturnEvent) -> bool:
    return True  # the store's own cost is measured by `make bench-store`


ACTIVITIES: list[Callable[..., Any]] = [
    load_order,
    reserve_quantities,
    buy_return_label,
    register_tracking,
    notify_shopper,
    email_shopper,
    restock_line,
    refund_payment,
    refund_what_is_left,
    record_event,
    *(_disposition(d) for d in Disposition if d is not Disposition.restock),
]
