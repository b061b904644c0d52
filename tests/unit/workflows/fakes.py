"""In-memory stand-ins for the return's activities, registered under the real activities' names,
so the workflow runs on the time-skipping server without any vendor or sandbox.

They keep just what the workflow's tests look at (what was bought, refunded, restocked...), and
a test in test_fake_activities.py keeps their names and types equal to the real ones.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.models import (
    AttemptOutcome,
    DeliveryAttempt,
    DeliveryVerdict,
    DispositionReceipt,
    DispositionRequest,
    ExchangeReceipt,
    ExchangeRequest,
    Label,
    LabelRequest,
    LabelVoid,
    LabelVoidReceipt,
    OrderFacts,
    Pickup,
    PickupBooking,
    QuantityReservation,
    RefundReceipt,
    RefundRequest,
    ReservationLine,
    ReservationRelease,
    ReservationRequest,
    RestockReceipt,
    RestockReversal,
    ShopperEmail,
    ShopperNotification,
    StoreCreditReceipt,
    StoreCreditRequest,
    TrackingRegistration,
    WorkOrderCompletion,
)
from integrations.errors import IntegrationError
from store.events import ReturnEvent
from workflows.contract import ORDER_NOT_FOUND
from workflows.vocabulary import RefundState


@dataclass
class FakeVendors:
    orders: dict[str, OrderFacts] = field(default_factory=dict)
    reserved: dict[str, dict[str, dict[str, int]]] = field(default_factory=lambda: defaultdict(dict))
    released: set[str] = field(default_factory=set)  # return ids whose reservation was released
    labels: list[Label] = field(default_factory=list)
    voided: list[str] = field(default_factory=list)
    pickups: list[PickupBooking] = field(default_factory=list)
    notifications: list[ShopperNotification] = field(default_factory=list)
    emails: list[ShopperEmail] = field(default_factory=list)
    restocks: dict[str, DispositionRequest] = field(default_factory=dict)
    reversed_restocks: list[str] = field(default_factory=list)
    work_orders: dict[str, DispositionRequest] = field(default_factory=dict)
    completions: dict[str, str] = field(default_factory=dict)  # work order -> who confirmed it first
    refunds: dict[str, RefundReceipt] = field(default_factory=dict)  # by idempotency key
    refunded_payment: dict[str, str] = field(default_factory=dict)  # idempotency key -> payment refunded
    credits: dict[str, StoreCreditReceipt] = field(default_factory=dict)
    exchanges: dict[str, ExchangeReceipt] = field(default_factory=dict)
    out_of_stock: set[str] = field(default_factory=set)
    refund_status: RefundState = RefundState.succeeded  # what the next refund is when made
    failing: dict[str, ApplicationError] = field(default_factory=dict)  # activity name -> its error, every time
    event_store_down_for: set[str] = field(default_factory=set)  # returns whose event appends fail
    events: dict[str, ReturnEvent] = field(default_factory=dict)  # the event store: by event id, each once

    def _fail_if_told(self) -> None:
        error = self.failing.get(activity.info().activity_type)
        if error is not None:
            raise error

    @activity.defn(name="load_order")
    async def load_order(self, order_id: str) -> OrderFacts:
        self._fail_if_told()
        if order_id not in self.orders:
            raise ApplicationError(f"no order {order_id}", type=ORDER_NOT_FOUND, non_retryable=True)
        return self.orders[order_id]

    @activity.defn(name="reserve_quantities")
    async def reserve_quantities(self, request: ReservationRequest) -> QuantityReservation:
        self._fail_if_told()
        bought = {line.line_id: line.quantity for line in self.orders[request.order_id].lines}
        held = self.reserved[request.order_id]
        mine: dict[str, int] = {}
        for line in request.lines:
            others = sum(
                q.get(line.line_id, 0)
                for rid, q in held.items()
                if rid != request.return_id and rid not in self.released
            )
            mine[line.line_id] = max(0, min(line.quantity, bought.get(line.line_id, 0) - others))
        held[request.return_id] = mine
        return QuantityReservation(
            return_id=request.return_id,
            lines=[
                ReservationLine(line_id=line.line_id, requested=line.quantity, reserved=mine[line.line_id])
                for line in request.lines
            ],
        )

    @activity.defn(name="release_quantities")
    async def release_quantities(self, release: ReservationRelease) -> None:
        self.released.add(release.return_id)  # the record stays: the return id was used

    @activity.defn(name="buy_return_label")
    async def buy_return_label(self, request: LabelRequest) -> Label:
        self._fail_if_told()
        label = Label(
            transaction_id=f"tx-{request.return_id}",
            label_url=f"https://labels.example/{request.return_id}.pdf",
            qr_code_url=f"https://labels.example/{request.return_id}.png" if request.qr_code else None,
            tracking_number=f"TRK{request.return_id}",
            carrier="usps",
        )
        if label not in self.labels:
            self.labels.append(label)
        return label

    @activity.defn(name="register_tracking")
    async def register_tracking(self, registration: TrackingRegistration) -> None:
        self._fail_if_told()

    @activity.defn(name="book_pickup")
    async def book_pickup(self, booking: PickupBooking) -> Pickup:
        self._fail_if_told()
        self.pickups.append(booking)
        window = booking.window
        return Pickup(
            pickup_id=f"pu-{len(self.pickups)}",
            confirmation_code=f"WTC{len(self.pickups):09d}",
            start=window.start,
            end=window.end,
            cancel_by=window.start - timedelta(hours=1),
        )

    @activity.defn(name="void_label")
    async def void_label(self, void: LabelVoid) -> LabelVoidReceipt:
        if void.transaction_id not in self.voided:
            self.voided.append(void.transaction_id)
        return LabelVoidReceipt(refund_id=f"void-{void.transaction_id}", status="SUCCESS")

    @activity.defn(name="notify_shopper")
    async def notify_shopper(self, notification: ShopperNotification) -> None:
        self.notifications.append(notification)

    @activity.defn(name="email_shopper")
    async def email_shopper(self, email: ShopperEmail) -> bool:
        self.emails.append(email)
        return True

    @activity.defn(name="restock_line")
    async def restock_line(self, request: DispositionRequest) -> RestockReceipt:
        self._fail_if_told()
        restock_id = f"rs-{request.return_id}-{request.line_id}"
        self.restocks[restock_id] = request
        return RestockReceipt(restock_id=restock_id, sku=request.sku, quantity=request.quantity)

    @activity.defn(name="reverse_restock")
    async def reverse_restock(self, reversal: RestockReversal) -> None:
        if reversal.restock_id not in self.reversed_restocks:
            self.reversed_restocks.append(reversal.restock_id)

    async def _work_order(self, request: DispositionRequest) -> DispositionReceipt:
        self._fail_if_told()
        work_order_id = f"wo-{request.return_id}-{request.line_id}"
        self.work_orders[work_order_id] = request
        return DispositionReceipt(work_order_id=work_order_id, disposition=request.disposition)

    @activity.defn(name="dispose_refurbish")
    async def dispose_refurbish(self, request: DispositionRequest) -> DispositionReceipt:
        return await self._work_order(request)

    @activity.defn(name="dispose_liquidate")
    async def dispose_liquidate(self, request: DispositionRequest) -> DispositionReceipt:
        return await self._work_order(request)

    @activity.defn(name="dispose_recycle")
    async def dispose_recycle(self, request: DispositionRequest) -> DispositionReceipt:
        return await self._work_order(request)

    @activity.defn(name="dispose_return_to_vendor")
    async def dispose_return_to_vendor(self, request: DispositionRequest) -> DispositionReceipt:
        return await self._work_order(request)

    @activity.defn(name="dispose_donate")
    async def dispose_donate(self, request: DispositionRequest) -> DispositionReceipt:
        return await self._work_order(request)

    @activity.defn(name="dispose_destroy")
    async def dispose_destroy(self, request: DispositionRequest) -> DispositionReceipt:
        return await self._work_order(request)

    @activity.defn(name="complete_work_order")
    async def complete_work_order(self, completion: WorkOrderCompletion) -> str:
        self._fail_if_told()
        return self.completions.setdefault(completion.work_order_id, completion.completed_by)

    @activity.defn(name="refund_payment")
    async def refund_payment(self, request: RefundRequest) -> RefundReceipt:
        self._fail_if_told()
        if request.idempotency_key not in self.refunds:
            self.refunds[request.idempotency_key] = RefundReceipt(
                refund_id=f"re-{len(self.refunds) + 1}-{request.return_id}",
                amount=request.amount,
                currency=request.currency,
                status=self.refund_status,
            )
        return self.refunds[request.idempotency_key]

    @activity.defn(name="refund_what_is_left")
    async def refund_what_is_left(self, request: RefundRequest) -> RefundReceipt | None:
        self._fail_if_told()
        if request.idempotency_key in self.refunds:
            return self.refunds[request.idempotency_key]
        paid = sum(
            payment.amount
            for order in self.orders.values()
            for payment in order.payments
            if payment.payment_intent_id == request.payment_intent_id
        )
        refunded = sum(
            r.amount for k, r in self.refunds.items() if self.refunded_payment.get(k) == request.payment_intent_id
        )
        amount = min(request.amount, paid - refunded)
        if amount <= 0:
            return None
        self.refunded_payment[request.idempotency_key] = request.payment_intent_id
        self.refunds[request.idempotency_key] = RefundReceipt(
            refund_id=f"re-{len(self.refunds) + 1}-{request.return_id}",
            amount=amount,
            currency=request.currency,
            status=self.refund_status,
        )
        return self.refunds[request.idempotency_key]

    @activity.defn(name="get_refund")
    async def get_refund(self, refund_id: str) -> RefundReceipt:
        return next(refund for refund in self.refunds.values() if refund.refund_id == refund_id)

    @activity.defn(name="issue_store_credit")
    async def issue_store_credit(self, request: StoreCreditRequest) -> StoreCreditReceipt:
        self._fail_if_told()
        return self.credits.setdefault(
            request.idempotency_key,
            StoreCreditReceipt(credit_id=f"sc-{request.return_id}", amount=request.amount, currency=request.currency),
        )

    @activity.defn(name="order_exchange")
    async def order_exchange(self, request: ExchangeRequest) -> ExchangeReceipt:
        self._fail_if_told()
        placed = None if request.sku in self.out_of_stock else f"ex-{request.return_id}-{request.line_id}"
        return self.exchanges.setdefault(
            request.idempotency_key,
            ExchangeReceipt(exchange_order_id=placed, sku=request.sku, quantity=request.quantity),
        )

    @activity.defn(name="record_event")
    async def record_event(self, event: ReturnEvent) -> bool:
        self._fail_if_told()
        if event.return_id in self.event_store_down_for:
            raise ApplicationError("database is locked", type="OperationalError")
        return self.events.setdefault(event.id, event) is event

    @activity.defn(name="attempt_delivery")
    async def attempt_delivery(self, attempt: DeliveryAttempt) -> AttemptOutcome:
        """No subscriber in the unit tier: the delivery workflow is tested against a real receiver."""
        return AttemptOutcome(verdict=DeliveryVerdict.delivered)

    def events_of(self, return_id: str) -> list[ReturnEvent]:
        return sorted((e for e in self.events.values() if e.return_id == return_id), key=lambda e: e.sequence)

    def refunded(self, return_id: str) -> list[int]:
        return [refund.amount for refund in self.refunds.values() if refund.refund_id.endswith(return_id)]


@dataclass
class FakeShopPlatform:
    """What the doors ask the shop platform (the order, to check a request against), from the fakes' orders."""

    vendors: FakeVendors

    async def load_order(self, order_id: str) -> OrderFacts:
        if order_id not in self.vendors.orders:
            raise IntegrationError("shop", "order_not_found", f"no order {order_id}", retryable=False, status=404)
        return self.vendors.orders[order_id]

    async def return_was_reserved(self, order_id: str, return_id: str) -> bool:
        return return_id in self.vendors.reserved.get(order_id, {})

    async def aclose(self) -> None:
        return None
