"""The portal in German, by the browser's Accept-Language and by the switcher; every page audited in both."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from devstack.stack import LocalStack
from tests.system.portal.conftest import audited, placed_order

pytestmark = [pytest.mark.browser, pytest.mark.devserver]


async def test_a_german_browser_gets_the_portal_in_german_with_german_dates_and_amounts(
    browser: Browser, stack: LocalStack
) -> None:
    context = await browser.new_context(base_url=stack.api_url, locale="de-DE")  # Accept-Language: de-DE
    page = await context.new_page()
    order = await placed_order(stack)
    await page.goto("/portal")
    assert await page.get_attribute("html", "lang") == "de"
    await audited(page, "de-1-lookup")
    await page.get_by_label("Bestellnummer").fill(order.order_id)
    await page.get_by_label("E-Mail-Adresse oder Postleitzahl").fill("ada@example.com")
    await page.get_by_role("button", name="Bestellung finden").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Welche Artikel senden Sie zurück?")
    await expect(page.locator("#line-L3")).to_contain_text("Dieser Artikel kann nicht zurückgegeben werden")
    await expect(page.locator("#line-L1")).to_contain_text(re.compile(r"Rückgabe möglich bis \d+\. \w+ 20\d\d"))
    await audited(page, "de-2-items")
    await page.locator("#quantity-L1").select_option("2")
    await page.locator("#reason-L1").select_option("size_too_large")
    await page.get_by_role("button", name="Weiter").click()

    await expect(page.locator("label[for=method-mail_label]")).to_contain_text("5,99 $, von Ihrer Erstattung abgezogen")
    await audited(page, "de-3-method")
    await page.get_by_role("button", name="Weiter").click()
    await expect(page.locator("#estimate")).to_have_text("44,01 $")
    await audited(page, "de-4-review")

    await page.get_by_role("link", name="English").click()  # the switcher: the same page, and the session keeps it
    await expect(page.get_by_role("heading", level=1)).to_have_text("Review your return")
    await expect(page.locator("#estimate")).to_have_text("$44.01")
    await page.goto("/portal/items")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Which items are you returning?")

    # back to German, to the end: a carrier pickup, its confirmation and status page, and a refusal page
    await page.get_by_role("link", name="Deutsch").click()
    await page.goto("/portal/method")
    await page.get_by_label(re.compile("Abholung durch den Paketdienst")).check()
    offered = await page.locator("#pickup-window option").all_text_contents()
    mornings = [text.strip() for text in offered if re.search(r"\d+\. \w+ 20\d\d, 09:00 – 12:00", text)]
    assert mornings, offered  # German dates and 24-hour times; today's morning may be too close to offer
    await page.locator("#pickup-window").select_option(label=mornings[0])
    await page.get_by_role("button", name="Weiter").click()
    await expect(page.locator("#pickup")).to_contain_text("09:00 – 12:00")
    await page.get_by_role("button", name="Rücksendung bestätigen").click()
    await expect(page.get_by_role("status")).to_have_text("Ihre Rücksendung ist bestätigt.")
    await expect(page.locator("#pickup-booked")).to_contain_text("Der Paketdienst holt das Paket am", timeout=30_000)
    await expect(page.locator("#pickup-booked")).to_contain_text("Bestätigungscode")
    await audited(page, "de-5-confirmation-pickup")
    await page.goto("/portal/returns/not-a-link")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Diesen Link kennen wir nicht")
    await audited(page, "de-6-unknown-link")
    await context.close()


async def test_the_switcher_turns_an_english_page_german(page: Page) -> None:
    await page.goto("/portal")
    await page.get_by_role("link", name="Deutsch").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Artikel zurückgeben")
    assert await page.get_attribute("html", "lang") == "de"
