"""The portal in a real browser: Debian's chromium driven by playwright, against one local stack per module."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from playwright.async_api import Browser, Page

from activities.models import OrderLine
from devstack.checkout import charge_shopper, demo_order, seed_order
from devstack.polling import wait_for_stage
from devstack.stack import ROOT, LocalStack
from starter.client import ReturnsClient
from tests.system.browser import audited as audited_in
from tests.system.browser import browser, ledger_refunds, needs_chromium, sent_back_and_graded
from tests.system.local_stack import returns, stack
from workflows.vocabulary import Stage

__all__ = ["browser", "ledger_refunds", "returns", "stack"]  # fixtures and helpers the portal's tests take from here

SHOTS = ROOT / ".run" / "portal"
EMAIL = "ada@example.com"

pytestmark = needs_chromium


@pytest.fixture
async def page(browser: Browser, stack: LocalStack) -> AsyncIterator[Page]:
    context = await browser.new_context(base_url=stack.api_url)
    page = await context.new_page()
    yield page
    await context.close()


@dataclass
class Order:
    order_id: str
    payment_intent_id: str


async def placed_order(stack: LocalStack, *, cheap_mug: bool = False) -> Order:
    """The demo order (two shirts, a mug) and a gift card, which can't be returned; paid. A cheap mug
    ($7) may be kept (the policy's keep_it_below is $8)."""
    settings = stack.settings
    order_id = f"ORD-P-{uuid.uuid4().hex[:8]}"
    mug_price = 700 if cheap_mug else 1200
    payment = await charge_shopper(settings, amount=2 * 2500 + mug_price + 599 + 5000)
    order = demo_order(order_id, "CUS-ada", paid_with=payment)
    lines = [
        line.model_copy(update={"unit_price": mug_price}) if line.line_id == "L2" else line for line in order.lines
    ]
    gift_card = OrderLine(line_id="L3", sku="GIFT-CARD", category="gift_card", quantity=1, unit_price=5000)
    await seed_order(settings, order.model_copy(update={"lines": [*lines, gift_card]}))
    return Order(order_id, payment)


async def audited(page: Page, name: str) -> None:
    """A screenshot under .run/portal/, the page usable 320 px wide, and axe-core's audit."""
    await audited_in(page, name, SHOTS, narrowest=320)


async def find_order(page: Page, order_id: str, contact: str = EMAIL) -> None:
    await page.goto("/portal")
    await page.get_by_label("Order number").fill(order_id)
    await page.get_by_label("Email address or postal code").fill(contact)
    await page.get_by_role("button", name="Find my order").click()


def amount_in_cents(text: str) -> int:
    """`$44.01` as 4401."""
    return int(re.sub(r"[^0-9]", "", text))


async def sent_back_and_graded_a(
    stack: LocalStack, returns: ReturnsClient, return_id: str, units: dict[str, int]
) -> None:
    """The carrier takes the parcel to the warehouse, which receives and grades every unit A; the return completes."""
    await sent_back_and_graded(stack, returns, return_id, units)
    await wait_for_stage(returns, return_id, Stage.completed)
