"""What the browser tests (the portal's, the console's) share: Debian's chromium driven by
playwright, axe-core's audit with screenshots, and the stack's warehouse and Stripe ledger."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from devstack.demo import carrier_reports, role_headers
from devstack.polling import wait_for_stage
from devstack.stack import LocalStack
from starter.client import ReturnsClient
from workflows.vocabulary import Stage, TrackingStatus

CHROMIUM = os.environ.get("CHROMIUM_PATH")
AXE = os.environ.get("AXE_CORE_PATH")
AXE_SOURCE = Path(AXE).read_text() if AXE else None  # read once, at import
needs_chromium = pytest.mark.skipif(not CHROMIUM, reason="no CHROMIUM_PATH (scripts/setup.sh installs chromium)")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM:
        pytest.skip("no CHROMIUM_PATH")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        await browser.close()


async def audited(page: Page, name: str, shots: Path, *, narrowest: int | None = None) -> None:
    """A screenshot under `shots`; the page usable `narrowest` px wide (nothing to scroll sideways)
    when given; and axe-core's audit: no serious or critical violation."""
    await asyncio.to_thread(shots.mkdir, parents=True, exist_ok=True)
    await page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    if narrowest is not None:
        viewport = page.viewport_size
        await page.set_viewport_size({"width": narrowest, "height": 640 if narrowest < 600 else 1024})
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= narrowest, f"{name}: wider than {narrowest} px"
        await page.screenshot(path=str(shots / f"{name}-{narrowest}px.png"), full_page=True)
        await page.set_viewport_size(viewport)
    # Where there is a browser there must be the audit: a page never passes unaudited.
    assert AXE_SOURCE, "no AXE_CORE_PATH: scripts/setup.sh installs axe-core beside chromium"
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


async def delivered(stack: LocalStack, returns: ReturnsClient, return_id: str) -> None:
    """The carrier takes the return's parcel to the warehouse."""
    status = await returns.status(return_id)
    assert status.label is not None
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as api:
        for scan in (TrackingStatus.transit, TrackingStatus.delivered):
            await carrier_reports(api, stack.settings, status.label.tracking_number, scan)
    await wait_for_stage(returns, return_id, Stage.delivered)


async def sent_back_and_graded(
    stack: LocalStack, returns: ReturnsClient, return_id: str, units: dict[str, int]
) -> None:
    """The parcel delivered, the warehouse (through the API) receives and grades every unit A."""
    await delivered(stack, returns, return_id)
    warehouse = role_headers(stack.settings, "warehouse", "dock-7")
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as api:
        lines = [{"line_id": line_id, "quantity": quantity} for line_id, quantity in units.items()]
        receipt = {"receipt_id": f"{return_id}-P1", "lines": lines}
        (await api.post(f"/v1/returns/{return_id}/receipts", json=receipt, headers=warehouse)).raise_for_status()
        inspection = {"lines": [{"line_id": line_id, "grade": "A"} for line_id in units]}
        (await api.post(f"/v1/returns/{return_id}/inspection", json=inspection, headers=warehouse)).raise_for_status()


async def ledger_refunds(stack: LocalStack, payment_intent_id: str) -> list[dict]:
    """The Stripe sandbox's refunds of a payment (its ledger, not what the return says)."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(
            f"{stack.sandbox_url('stripe')}/_sandbox/refunds", params={"payment_intent": payment_intent_id}
        )
        return response.raise_for_status().json()
