"""One demo return, walked through every step by playing shop, carrier and warehouse.

Used by `make run` (after the stack is up) and by the end-to-end tests.
"""

from __future__ import annotations

from datetime import UTC, datetime

from integrations.stripe_payments import StripePayments
from starter.client import ReturnsClient
from workflows.models import (
    Address,
    CarrierScan,
    Grade,
    InspectionReport,
    LineInspection,
    ReasonCode,
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


def demo_request(return_id: str, payment_intent_id: str) -> ReturnRequest:
    return ReturnRequest(
        return_id=return_id,
        order_id=f"ORD-{return_id}",
        customer_id="CUS-ada",
        currency="USD",
        payment_intent_id=payment_intent_id,
        lines=[
            ReturnLine(line_id="L1", sku="TSHIRT-M-BLUE", quantity=2, unit_price=2500, reason=ReasonCode.size_too_large),
            ReturnLine(line_id="L2", sku="MUG-WHITE", quantity=1, unit_price=1200, reason=ReasonCode.unwanted),
        ],
        customer_address=SHOPPER,
        warehouse_address=WAREHOUSE,
    )


DEMO_GRADES = {"L1": Grade.a, "L2": Grade.d}  # the shirts resell; the mug came back broken


async def run_demo(client: ReturnsClient, *, return_id: str | None = None) -> ReturnStatus:
    """Charges the shopper, starts a return, and plays carrier and warehouse until refunded."""
    return_id = return_id or f"DEMO-{datetime.now(UTC):%Y%m%d%H%M%S}"
    payments = StripePayments(client.settings)
    payment = await payments.create_test_payment(amount=2 * 2500 + 1200 + 599, currency="USD")  # lines + shipping
    await client.start_return(demo_request(return_id, payment))
    status = await client.wait_for_stage(return_id, Stage.label_issued)
    assert status.label is not None
    for n, scan in enumerate((TrackingStatus.pre_transit, TrackingStatus.transit, TrackingStatus.delivered), start=1):
        await client.record_carrier_scan(
            return_id,
            CarrierScan(event_id=f"{status.label.tracking_number}-{n}", status=scan, occurred_at=datetime.now(UTC)),
        )
    await client.wait_for_stage(return_id, Stage.delivered)
    await client.record_inspection(
        return_id,
        InspectionReport(
            inspector="dock-7",
            lines=[LineInspection(line_id=line_id, grade=grade) for line_id, grade in DEMO_GRADES.items()],
        ),
    )
    return await client.result(return_id)


def print_outcome(status: ReturnStatus) -> None:
    print(f"\nReturn {status.return_id} (order {status.order_id}): {status.stage.value}")
    for entry in status.timeline:
        print(f"  {entry.at:%H:%M:%S}  {entry.stage.value:<13} {entry.actor:<9} {entry.detail}")
    if status.label:
        print(f"Label: {status.label.label_url} (tracking {status.label.tracking_number})")
    if status.refund:
        print(f"Refund: {status.refund.refund_id}, {status.refund.amount} {status.refund.currency} ({status.refund.status})")
