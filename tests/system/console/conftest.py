"""The console in a real browser: Debian's chromium driven by playwright, against one local stack per module."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from devstack.stack import ROOT, LocalStack
from tests.system.browser import audited, browser, needs_chromium
from tests.system.local_stack import doors, returns, stack

__all__ = ["browser", "doors", "returns", "stack"]  # the fixtures

SHOTS = ROOT / ".run" / "console"
KEYS = {"kim": "local-operator-key", "dock-3": "local-inspector-key", "wms-1": "local-warehouse-key"}

pytestmark = needs_chromium


@pytest.fixture
async def page(browser: Browser, stack: LocalStack) -> AsyncIterator[Page]:
    context = await browser.new_context(base_url=stack.api_url, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    yield page
    await context.close()


async def signed_in(page: Page, holder: str) -> None:
    """Signs in with the local stack's key of `holder` (devstack/stack.py: LOCAL_KEYS)."""
    await page.goto("/console")
    await page.get_by_label("Your API key").fill(KEYS[holder])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_text(f":{holder}", exact=False).first).to_be_visible()


async def shot(page: Page, name: str, *, narrowest: int | None = None) -> None:
    await audited(page, name, SHOTS, narrowest=narrowest)
