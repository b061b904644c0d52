"""The portal in a real browser: Debian's chromium driven by playwright, against one local stack per module."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from activities.models import OrderLine
from devstack.checkout import charge_shopper, demo_order, seed_order
from devstack.demo import carrier_reports, role_headers
from devstack.polling import wait_for_stage
from devstack.stack import ROOT, LocalStack, Ports
from starter.client import ReturnsClient
from workflows.vocabulary import Stage, TrackingStatus

CHROMIUM = os.environ.get("CHROMIUM_PATH")
AXE = os.environ.get("AXE_CORE_PATH")
AXE_SOURCE = Path(AXE).read_text() if AXE else None  # read once, at import
SHOTS = ROOT / ".run" / "portal"
EMAIL = "ada@example.com"

pytestmark = pytest.mark.skipif(not CHROMIUM, reason="no CHROMIUM_PATH (scripts/setup.sh installs chromium)")


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with LocalStack(ports=Ports.free(), ui=False, log_dir=tmp_path_factory.mktemp("stack")) as stack:
        yield stack


@pytest.fixture(scope="module")
async def returns(stack: LocalStack) -> AsyncIterator[ReturnsClient]:
    client = await stack.client()
    yield client
    await client.aclose()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM:
        pytest.skip("no CHROMIUM_PATH")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        await browser.close()


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
    """A screenshot under .run/portal/, the page usable 320 px wide (nothing to scroll sideways), and
    axe-core's audit: no serious or critical violation."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    viewport = page.viewport_size
    await page.set_viewport_size({"width": 320, "height": 640})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 320, f"{name}: wider than 320 px"
    await page.screenshot(path=str(SHOTS / f"{name}-320px.png"), full_page=True)
    await page.set_viewport_size(viewport)
    if not AXE_SOURCE:
        return
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE_SOURCE)
    results = await page.evaluate("axe.run(document)")
    assert results["passes"], "axe-core ran no rule"
    serious = [
        (violation["id"], [node["target"] for node in violation["nodes"]])
        for violation in results["violations"]
        if violation["impact"] in ("serious", "critical")
    ]
    assert serious == [], f"{name}: {serious}"


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
    status = await returns.status(return_id)
    assert status.label is not None
    warehouse = role_headers(stack.settings, "warehouse", "dock-7")
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as api:
        for scan in (TrackingStatus.transit, TrackingStatus.delivered):
            await carrier_reports(api, stack.settings, status.label.tracking_number, scan)
        await wait_for_stage(returns, return_id, Stage.delivered)
        lines = [{"line_id": line_id, "quantity": quantity} for line_id, quantity in units.items()]
        receipt = {"receipt_id": f"{return_id}-P1", "lines": lines}
        (await api.post(f"/v1/returns/{return_id}/receipts", json=receipt, headers=warehouse)).raise_for_status()
        inspection = {"lines": [{"line_id": line_id, "grade": "A"} for line_id in units]}
        (await api.post(f"/v1/returns/{return_id}/inspection", json=inspection, headers=warehouse)).raise_for_status()
    await wait_for_stage(returns, return_id, Stage.completed)


async def ledger_refunds(stack: LocalStack, payment_intent_id: str) -> list[dict]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(
            f"{stack.sandbox_url('stripe')}/_sandbox/refunds", params={"payment_intent": payment_intent_id}
        )
        return response.raise_for_status().json()
