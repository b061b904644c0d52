"""One demo return, walked through every step by playing shop, carrier and warehouse.

Used by `make run` (after the stack is up) and by the end-to-end tests. It talks to
the local sandboxes: it seeds the order in the shop sandbox and charges the shopper in
the Stripe sandbox, as the shop's checkout would have done.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from integrations.settings import Settings
from integrations.stripe_payments import StripePayments
from starter.client import ReturnsClient
from workflows.models import (
    Address,
    CarrierScan,
    Grade,
    InspectionReport,
    LineInspection,
    OrderFacts,
    OrderLine,
    ParcelReceipt,
    ReasonCode,
    ReceivedLine,
    ReturnLine,
    ReturnRequest,
    ReturnStatus,
    Stage,
    TrackingStatus,
)

SHOPPER = Address(name="Ada Shopper", street1="965 Mission St", city="San Francisco", state="CA", zip="94103", country="US")
WAREHOUSE = Address(
    name="Returns Dock", street1="1092 Indian Summer Ct", city="San Jose", state="CA", zip="95122", country="US"
)
DEMO_LINES = [
    ReturnLine(line_id="L1", sku="TSHIRT-M-BLUE", quantity=2, unit_price=2500, reason=ReasonCode.size_too_large),
    ReturnLine(line_id="L2", sku="MUG-WHITE", quantity=1, unit_price=1200, reason=ReasonCode.unwanted),
]
DEMO_CATEGORIES = {"L1": "apparel", "L2": "kitchen"}
DEMO_GRADES = {"L1": Grade.a, "L2": Grade.d}  # the shirts resell; the mug came back broken
DEMO_ORDER_TOTAL = 2 * 2500 + 1200 + 599  # lines + outbound shipping


def demo_order(
    order_id: str, customer_id: str, delivered_days_ago: float = 3, now: datetime | None = None
) -> OrderFacts:
    """The demo order, delivered a few days before `now` (the server's clock in time-skipping tests)."""
    return OrderFacts(
        order_id=order_id,
        customer_id=customer_id,
        currency="USD",
        delivered_at=(now or datetime.now(UTC)) - timedelta(days=delivered_days_ago),
        lines=[
            OrderLine(
                line_id=line.line_id,
                sku=line.sku,
                category=DEMO_CATEGORIES[line.line_id],
                quantity=line.quantity,
                unit_price=line.unit_price,
            )
            for line in DEMO_LINES
        ],
        customer_return_count=0,
    )


def demo_request(return_id: str, payment_intent_id: str, order_id: str | None = None, **changes: object) -> ReturnRequest:
    request = ReturnRequest(
        return_id=return_id,
        order_id=order_id or f"ORD-{return_id}",
        customer_id="CUS-ada",
        currency="USD",
        payment_intent_id=payment_intent_id,
        lines=DEMO_LINES,
        customer_address=SHOPPER,
        warehouse_address=WAREHOUSE,
    )
    return request.model_copy(update=changes) if changes else request


async def seed_order(settings: Settings, order: OrderFacts) -> None:
    """Puts the order into the shop sandbox, as the shop's checkout would have."""
    async with httpx.AsyncClient(base_url=settings.shop_api_base, timeout=10) as http:
        response = await http.post("/_sandbox/orders", json=order.model_dump(mode="json"))
        response.raise_for_status()


async def charge_shopper(settings: Settings, amount: int = DEMO_ORDER_TOTAL) -> str:
    return await StripePayments(settings).create_test_payment(amount=amount, currency="USD")


async def run_demo(client: ReturnsClient, *, return_id: str | None = None) -> ReturnStatus:
    """Seeds an order, charges the shopper, starts a return, and plays carrier and warehouse
    until the refund is issued."""
    return_id = return_id or f"DEMO-{datetime.now(UTC):%Y%m%d%H%M%S}"
    request = demo_request(return_id, await charge_shopper(client.settings))
    await seed_order(client.settings, demo_order(request.order_id, request.customer_id))
    await client.start_return(request)
    status = await client.wait_for_stage(return_id, Stage.label_issued)
    if status.label is None:
        raise RuntimeError(f"demo return {return_id} ended {status.stage.value} before its label")
    for n, scan in enumerate((TrackingStatus.pre_transit, TrackingStatus.transit, TrackingStatus.delivered), start=1):
        await client.record_carrier_scan(
            return_id,
            CarrierScan(event_id=f"{status.label.tracking_number}-{n}", status=scan, occurred_at=datetime.now(UTC)),
        )
    await client.wait_for_stage(return_id, Stage.delivered)
    await client.record_receipt(
        return_id,
        ParcelReceipt(
            receipt_id=f"{return_id}-P1",
            received_by="dock-7",
            lines=[ReceivedLine(line_id=line.line_id, quantity=line.quantity) for line in DEMO_LINES],
        ),
    )
    await client.record_inspection(
        return_id,
        InspectionReport(
            inspector="dock-7",
            lines=[LineInspection(line_id=line_id, grade=grade) for line_id, grade in DEMO_GRADES.items()],
        ),
    )
    return await client.wait_for_stage(return_id, Stage.completed)


def print_outcome(status: ReturnStatus) -> None:
    print(f"\nReturn {status.return_id} (order {status.order_id}): {status.stage.value}")
    for entry in status.timeline:
        print(f"  {entry.at:%H:%M:%S}  {entry.stage.value:<13} {entry.actor:<9} {entry.detail}")
    if status.label:
        print(f"Label: {status.label.label_url} (tracking {status.label.tracking_number})")
    if status.refund:
        print(f"Refund: {status.refund.refund_id}, {status.refund.amount} {status.refund.currency} ({status.refund.status})")
