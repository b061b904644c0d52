"""The shop's side of a return, played on the sandboxes: the demo order, seeded in the shop
sandbox, paid in the Stripe sandbox, and the request that returns it. Used by the demo, the
tests and the benchmark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import stripe

from activities.models import OrderFacts, OrderLine, OrderPayment
from integrations.settings import Settings
from workflows.models import ReturnLine, ReturnRequest
from workflows.primitives import Address
from workflows.vocabulary import Grade, ReasonCode

SHOPPER = Address(
    name="Ada Shopper", street1="965 Mission St", city="San Francisco", state="CA", zip="94103", country="US"
)
SHOPPER_EMAIL = "ada@example.com"  # with the zip, how the shopper names their order (eligibility)
WAREHOUSE = Address(
    name="Returns Dock", street1="1092 Indian Summer Ct", city="San Jose", state="CA", zip="95122", country="US"
)
DEMO_LINES = [
    ReturnLine(line_id="L1", sku="TSHIRT-M-BLUE", quantity=2, unit_price=2500, reason=ReasonCode.size_too_large),
    ReturnLine(line_id="L2", sku="MUG-WHITE", quantity=1, unit_price=1200, reason=ReasonCode.unwanted),
]
DEMO_CATEGORIES = {"L1": "apparel", "L2": "kitchen"}
# What the shop calls its products, as the shopper's portal shows them.
PRODUCT_TITLES = {"TSHIRT-M-BLUE": "T-shirt, blue, size M", "MUG-WHITE": "White mug", "GIFT-CARD": "Gift card"}
DEMO_GRADES = {"L1": Grade.a, "L2": Grade.d}  # the shirts resell; the mug came back broken
DEMO_ORDER_TOTAL = 2 * 2500 + 1200 + 599  # lines + outbound shipping
# The shirt in every size, as the shop's catalog has it (what an exchange may ask for), and the units
# on hand of the sizes nobody ordered: XL is sold out (M's stock is the tests' own).
SHIRT_SIZES = {
    "TSHIRT-S-BLUE": ("T-shirt, blue, size S", 3),
    "TSHIRT-M-BLUE": (PRODUCT_TITLES["TSHIRT-M-BLUE"], None),
    "TSHIRT-L-BLUE": ("T-shirt, blue, size L", 5),
    "TSHIRT-XL-BLUE": ("T-shirt, blue, size XL", 0),
}


def demo_order(
    order_id: str,
    customer_id: str,
    delivered_days_ago: float = 3,
    now: datetime | None = None,
    *,
    paid_with: str | None = None,
    paid: int = DEMO_ORDER_TOTAL,
) -> OrderFacts:
    """The demo order, delivered a few days before `now` (the server's clock in time-skipping tests),
    paid with the payment `paid_with` (the shop's checkout charged it)."""
    return OrderFacts(
        payments=[OrderPayment(payment_intent_id=paid_with, amount=paid)] if paid_with else [],
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


def demo_request(
    return_id: str, payment_intent_id: str, order_id: str | None = None, **changes: object
) -> ReturnRequest:
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


async def seed_order(
    settings: Settings, order: OrderFacts, email: str | None = SHOPPER_EMAIL, postal_code: str | None = SHOPPER.zip
) -> None:
    """Puts the order into the shop sandbox, as the shop's checkout would have, with the shopper's
    email and shipping postal code, where it went and where its returns go, and its products' titles."""
    placed = order.model_dump(mode="json")
    for line in placed["lines"]:
        if line["sku"] in PRODUCT_TITLES:
            line["title"] = PRODUCT_TITLES[line["sku"]]
    storefront = {
        "customer_email": email,
        "shipping_postal_code": postal_code,
        "shipping_address": SHOPPER.model_dump(exclude={"email"}, exclude_none=True),
        "return_address": WAREHOUSE.model_dump(exclude={"email"}, exclude_none=True),
    }
    catalog = [{"sku": sku, "title": title, "family": "tshirt-blue"} for sku, (title, _) in SHIRT_SIZES.items()]
    async with httpx.AsyncClient(base_url=settings.shop_base, timeout=10) as http:
        (await http.post("/_sandbox/products", json=catalog)).raise_for_status()
        stock = {sku: on_hand for sku, (_, on_hand) in SHIRT_SIZES.items() if on_hand is not None}
        (await http.post("/_sandbox/stock", json=stock)).raise_for_status()
        response = await http.post("/_sandbox/orders", json=placed | storefront)
        response.raise_for_status()


async def charge_shopper(settings: Settings, amount: int = DEMO_ORDER_TOTAL, currency: str = "USD") -> str:
    """Charges a test card, as the shop's checkout did; answers the payment intent's id."""
    base = settings.stripe_base
    client = stripe.StripeClient(
        settings.stripe_key, base_addresses={"api": base} if base else None, http_client=stripe.HTTPXClient()
    )
    intent = await client.v1.payment_intents.create_async(
        {
            "amount": amount,
            "currency": currency.lower(),
            "payment_method": "pm_card_visa",
            "confirm": True,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        }
    )
    return intent.id


async def checkout(settings: Settings, return_id: str) -> ReturnRequest:
    """The shop's checkout, played on the sandboxes: the order seeded and paid; answers the request to return it."""
    request = demo_request(return_id, await charge_shopper(settings))
    await seed_order(settings, demo_order(request.order_id, request.customer_id, paid_with=request.payment_intent_id))
    return request
