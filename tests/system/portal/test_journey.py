"""A shopper returns items on the portal in a real browser; the workflow and the sandboxes' ledgers show it happened."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from devstack.demo import role_headers
from devstack.polling import wait_for_stage
from devstack.stack import LocalStack
from sandboxes.smtp_sink import read_mail
from starter.client import ReturnsClient
from tests.system.api.doors import exists
from tests.system.portal.conftest import (
    amount_in_cents,
    audited,
    find_order,
    ledger_refunds,
    placed_order,
    sent_back_and_graded_a,
)
from workflows.vocabulary import Stage

pytestmark = [pytest.mark.browser, pytest.mark.devserver]


async def test_a_label_return_from_lookup_to_refund_pays_what_the_review_page_showed(
    page: Page, stack: LocalStack, returns: ReturnsClient
) -> None:
    order = await placed_order(stack)
    await page.goto("/portal")
    await audited(page, "1-lookup")
    await find_order(page, order.order_id)

    await expect(page.get_by_role("heading", level=1)).to_have_text("Which items are you returning?")
    gift_card = page.locator("#line-L3")
    await expect(gift_card).to_contain_text("Gift card")
    await expect(gift_card).to_contain_text("This item can't be returned (final sale or not returnable).")
    await expect(gift_card.locator("select")).to_have_count(0)
    await audited(page, "2-items")
    await page.get_by_label("How many to return").first.select_option("2")
    await page.locator("#reason-L1").select_option("size_too_large")
    # a note on two lines comes back as one; a direction override is dropped, not refused
    await page.get_by_label("Anything else we should know about it? (optional)").first.fill(
        "Fits like an XL.\nTags still on \u202eplease"
    )
    await page.get_by_role("button", name="Continue").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("How will you send it back?")
    methods = [await option.get_attribute("value") for option in await page.locator("input[name=method]").all()]
    assert methods == ["mail_label", "drop_off", "pickup", "in_store"]  # keep-it: two shirts are worth too much
    await expect(page.locator("label[for=method-mail_label]")).to_contain_text("$5.99, taken off your refund")
    await expect(page.locator("label[for=outcome-store_credit]")).to_contain_text("10% extra: $4.40 more")
    await audited(page, "3-method")
    await page.get_by_label(re.compile("Prepaid label")).check()
    await page.get_by_label(re.compile("Refund to your original payment")).check()
    await page.get_by_role("button", name="Continue").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Review your return")
    estimate = amount_in_cents(await page.locator("#estimate").inner_text())
    assert estimate == 2 * 2500 - 599  # two shirts, less the label (return_policy.json)
    assert amount_in_cents(await page.locator("#fees").inner_text()) == 599
    return_id = await page.locator("input[name=return_id]").input_value()
    assert not await exists(returns, return_id)  # nothing starts before the shopper confirms
    await expect(page.get_by_role("cell", name="Fits like an XL. Tags still on please")).to_be_visible()
    await audited(page, "4-review")
    await page.get_by_role("button", name="Confirm return").click()

    await expect(page.get_by_role("status")).to_have_text("Your return is confirmed.")
    await expect(page.locator("#label")).to_be_visible(timeout=30_000)  # confirming waits for the label
    await expect(page.locator("#stage")).to_have_text("Your return label is ready.")
    await audited(page, "5-confirmation")
    status = await returns.status(return_id)
    assert status.stage is Stage.label_issued and status.order_id == order.order_id
    (email,) = [m for m in read_mail(stack.mail_dir) if return_id in m["Subject"]]
    assert (email["To"], email["Subject"]) == ("ada@example.com", f"Your return {return_id} is confirmed")
    text, html = email.get_body(("plain",)).get_content(), email.get_body(("html",)).get_content()
    status_link = page.url.split("?")[0]
    assert status_link in text and f'href="{status_link}"' in html  # the signed link, in both parts
    assert [(line.line_id, line.quantity) for line in status.lines] == [("L1", 2)]
    assert status.lines[0].shopper_comment == "Fits like an XL. Tags still on please"  # what the warehouse reads
    assert await page.locator("#label").get_attribute("href") == status.label.label_url

    await sent_back_and_graded_a(stack, returns, return_id, {"L1": 2})

    refunds = await ledger_refunds(stack, order.payment_intent_id)
    assert [(refund["amount"], refund["metadata"]["return_id"]) for refund in refunds] == [(estimate, return_id)]
    await page.reload()
    await expect(page.locator("#stage")).to_have_text("Your return is complete.")
    await expect(page.locator("#resolution")).to_have_text("Refund: $44.01")
    await expect(page.get_by_role("button", name="Cancel this return")).to_have_count(0)
    await audited(page, "6-status-completed")


async def test_a_drop_off_return_shows_its_qr_code_and_can_be_cancelled_before_it_ships(
    page: Page, stack: LocalStack, returns: ReturnsClient
) -> None:
    order = await placed_order(stack)
    await find_order(page, order.order_id, "94103")  # the postal code names the order as well
    await page.locator("#quantity-L2").select_option("1")
    await page.locator("#reason-L2").select_option("defective")
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_label(re.compile("QR code at a drop-off point")).check()
    await page.get_by_label(re.compile("Store credit")).check()
    await page.get_by_role("button", name="Continue").click()
    estimate = amount_in_cents(await page.locator("#estimate").inner_text())
    assert estimate == (1200 - 599) + (1200 - 599) // 10  # the mug less the label, plus 10% store credit bonus
    await page.get_by_role("button", name="Confirm return").click()

    qr = page.get_by_role("img", name=re.compile("QR code for return"))
    await expect(qr).to_be_visible(timeout=30_000)
    assert await qr.evaluate("image => image.naturalWidth") > 0  # the page's policy lets the carrier's image in
    await audited(page, "7-drop-off-qr")
    status_url = page.url.split("?")[0]
    await page.get_by_role("button", name="Cancel this return").click()
    await expect(page.locator("#stage")).to_have_text("Your return was cancelled.", timeout=30_000)
    return_id = (await page.get_by_role("heading", level=1).inner_text()).removeprefix("Return ")
    assert (await returns.status(return_id)).stage is Stage.cancelled
    assert page.url.split("?")[0] == status_url
    await audited(page, "8-cancelled")


async def test_a_drop_off_return_for_store_credit_credits_what_the_review_page_showed(
    page: Page, stack: LocalStack, returns: ReturnsClient
) -> None:
    order = await placed_order(stack)
    await find_order(page, order.order_id)
    await page.locator("#quantity-L1").select_option("2")
    await page.locator("#reason-L1").select_option("unwanted")
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_label(re.compile("QR code at a drop-off point")).check()
    await page.get_by_label(re.compile("Store credit")).check()
    await page.get_by_role("button", name="Continue").click()
    credit = amount_in_cents(await page.locator("#estimate").inner_text())
    assert credit == (2 * 2500 - 599) + (2 * 2500 - 599) // 10  # two shirts less the label, plus the 10% bonus
    await page.get_by_role("button", name="Confirm return").click()
    await expect(page.get_by_role("img", name=re.compile("QR code for return"))).to_be_visible(timeout=30_000)
    return_id = (await page.get_by_role("heading", level=1).inner_text()).removeprefix("Return ")

    await sent_back_and_graded_a(stack, returns, return_id, {"L1": 2})

    async with httpx.AsyncClient(timeout=10) as http:
        credits = (await http.get(f"{stack.sandbox_url('shop')}/_sandbox/store_credits")).json()
    assert [c["amount"] for c in credits if c["reference"] == return_id] == [credit]
    assert await ledger_refunds(stack, order.payment_intent_id) == []


async def test_a_carrier_pickup_is_booked_moved_on_the_status_page_and_the_refund_is_what_review_showed(
    page: Page, stack: LocalStack, returns: ReturnsClient
) -> None:
    order = await placed_order(stack)
    await find_order(page, order.order_id)
    await page.locator("#quantity-L1").select_option("1")
    await page.locator("#reason-L1").select_option("size_too_large")
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_label(re.compile("Carrier pickup")).check()
    offered = await page.locator("#pickup-window option").all()
    first, second = [await option.get_attribute("value") for option in offered[:2]]
    await page.locator("#pickup-window").select_option(first)
    await page.get_by_label("Where the courier finds the parcel (optional)").first.fill("Behind the side gate")
    await page.get_by_label(re.compile("Refund to your original payment")).check()
    await audited(page, "12-pickup-method")
    await page.get_by_role("button", name="Continue").click()

    await expect(page.locator("#pickup")).to_contain_text("(Behind the side gate)")
    estimate = amount_in_cents(await page.locator("#estimate").inner_text())
    assert estimate == 2500 - 599  # one shirt, less the return shipping fee: the carrier comes with a label
    await page.get_by_role("button", name="Confirm return").click()

    await expect(page.locator("#pickup-booked")).to_contain_text("The carrier collects the parcel on", timeout=30_000)
    await expect(page.locator("#label")).to_be_visible()
    await audited(page, "13-pickup-booked")
    return_id = (await page.get_by_role("heading", level=1).inner_text()).removeprefix("Return ")
    status = await returns.status(return_id)
    start, end = first.split("/")
    assert (status.pickup.booked.start.isoformat(), status.pickup.booked.end.isoformat()) == (start, end)
    assert status.pickup.wanted.instructions == "Behind the side gate"
    await expect(page.locator("#pickup-booked")).to_contain_text(status.pickup.booked.confirmation_code)
    async with httpx.AsyncClient(timeout=10) as http:
        pickups = (await http.get(f"{stack.sandbox_url('shippo')}/_sandbox/pickups")).json()
    ours = [p for p in pickups if p["metadata"] == f"return:{return_id}"]
    assert [p["location"]["instructions"] for p in ours] == ["Behind the side gate"]
    (booked_email,) = [m for m in read_mail(stack.mail_dir) if m["Subject"].startswith("The carrier comes for")]
    assert return_id in booked_email.get_body(("plain",)).get_content()

    # the shopper moves it: the carrier is booked again, the first booking given up
    await page.locator("#pickup-window").select_option(second)
    await page.get_by_role("button", name="Change pickup").click()
    await expect(page.locator("#pickup-booked")).to_be_visible(timeout=30_000)
    status = await returns.status(return_id)
    assert status.pickup.booked.start.isoformat() == second.split("/")[0]
    assert [released.pickup_id for released in status.pickup.released] == [ours[0]["object_id"]]
    await audited(page, "14-pickup-moved")

    await sent_back_and_graded_a(stack, returns, return_id, {"L1": 1})
    refunds = await ledger_refunds(stack, order.payment_intent_id)
    assert [(refund["amount"], refund["metadata"]["return_id"]) for refund in refunds] == [(estimate, return_id)]


async def test_part_of_an_order_in_store_for_store_credit_then_the_rest_kept_for_a_refund(
    page: Page, stack: LocalStack, returns: ReturnsClient
) -> None:
    order = await placed_order(stack, cheap_mug=True)
    await find_order(page, order.order_id)
    await page.locator("#quantity-L1").select_option("1")
    await page.locator("#reason-L1").select_option("style")
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_label(re.compile("In a store")).check()
    await page.get_by_label(re.compile("Store credit")).check()
    await page.get_by_role("button", name="Continue").click()
    credit = amount_in_cents(await page.locator("#estimate").inner_text())
    assert credit == 2500 + 250  # one shirt, nothing shipped so no fee, and the 10% bonus
    await page.get_by_role("button", name="Confirm return").click()
    await expect(page.get_by_text("Bring the items to one of our stores")).to_be_visible()
    await audited(page, "9-in-store")
    first = (await page.get_by_role("heading", level=1).inner_text()).removeprefix("Return ")
    store = role_headers(stack.settings, "warehouse", "store-12")
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as api:
        receipt = {"receipt_id": f"{first}-S1", "lines": [{"line_id": "L1", "quantity": 1}]}
        (await api.post(f"/v1/returns/{first}/receipts", json=receipt, headers=store)).raise_for_status()
        inspection = {"lines": [{"line_id": "L1", "grade": "A"}]}
        (await api.post(f"/v1/returns/{first}/inspection", json=inspection, headers=store)).raise_for_status()
    await wait_for_stage(returns, first, Stage.completed)
    async with httpx.AsyncClient(timeout=10) as http:
        credits = (await http.get(f"{stack.sandbox_url('shop')}/_sandbox/store_credits")).json()
    assert [c["amount"] for c in credits if c["reference"] == first] == [credit]

    # The rest of the order: one shirt is in a return already; the mug is cheap enough to keep.
    await find_order(page, order.order_id)
    await expect(page.locator("#line-L1")).to_contain_text("1 already in a return.")
    options = await page.locator("#quantity-L1 option").all_inner_texts()
    assert options == ["0", "1"]
    await page.locator("#quantity-L2").select_option("1")
    await page.locator("#reason-L2").select_option("unwanted")
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_label(re.compile("Keep it")).check()
    await page.get_by_label(re.compile("Refund to your original payment")).check()
    await page.get_by_role("button", name="Continue").click()
    refund = amount_in_cents(await page.locator("#estimate").inner_text())
    assert refund == 700  # the mug as paid: nothing shipped, nothing to inspect
    await page.get_by_role("button", name="Confirm return").click()
    await expect(page.get_by_role("status")).to_have_text("Your return is confirmed.")
    second = (await page.get_by_role("heading", level=1).inner_text()).removeprefix("Return ")
    await wait_for_stage(returns, second, Stage.completed)
    await page.reload()
    await expect(page.locator("#stage")).to_have_text("Your return is complete.")
    await expect(page.locator("#resolution")).to_have_text("Refund: $7.00")
    await audited(page, "10-kept")
    assert [r["amount"] for r in await ledger_refunds(stack, order.payment_intent_id)] == [refund]
    assert [line.line_id for line in (await returns.status(second)).lines] == ["L2"]


async def test_an_exchange_for_another_size_in_stock_is_ordered_once_the_shirts_are_back(
    page: Page, stack: LocalStack, returns: ReturnsClient
) -> None:
    order = await placed_order(stack)
    async with httpx.AsyncClient(timeout=10) as http:  # the shop has no M left (earlier returns restocked some)
        (await http.post(f"{stack.sandbox_url('shop')}/_sandbox/stock", json={"TSHIRT-M-BLUE": 0})).raise_for_status()
    await find_order(page, order.order_id)
    await page.locator("#quantity-L1").select_option("2")
    await page.locator("#reason-L1").select_option("size_too_small")
    await page.get_by_role("button", name="Continue").click()
    sizes = page.locator("#exchange-L1 option")
    assert await sizes.all_inner_texts() == [
        "T-shirt, blue, size S",
        "T-shirt, blue, size M (sold out)",
        "T-shirt, blue, size L",
        "T-shirt, blue, size XL (sold out)",
    ]
    await page.get_by_label(re.compile("Prepaid label")).check()
    await page.get_by_label(re.compile("^Exchange")).check()
    await page.locator("#exchange-L1").select_option("TSHIRT-L-BLUE")
    await audited(page, "11-exchange-method")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("cell", name="T-shirt, blue, size L")).to_be_visible()
    assert amount_in_cents(await page.locator("#fees").inner_text()) == 0
    await audited(page, "12-exchange-review")
    await page.get_by_role("button", name="Confirm return").click()
    await expect(page.locator("#label")).to_be_visible(timeout=30_000)
    return_id = (await page.get_by_role("heading", level=1).inner_text()).removeprefix("Return ")
    status = await returns.status(return_id)
    assert [(line.line_id, line.exchange_sku) for line in status.lines] == [("L1", "TSHIRT-L-BLUE")]

    await sent_back_and_graded_a(stack, returns, return_id, {"L1": 2})
    async with httpx.AsyncClient(timeout=10) as http:
        exchanges = (await http.get(f"{stack.sandbox_url('shop')}/_sandbox/exchange_orders")).json()
    assert [(e["sku"], e["quantity"]) for e in exchanges if e["reference"] == return_id] == [("TSHIRT-L-BLUE", 2)]
    assert await ledger_refunds(stack, order.payment_intent_id) == []  # the replacement instead of money
    await page.reload()
    await expect(page.locator("#resolution")).to_have_text("Exchange ordered: TSHIRT-L-BLUE × 2")
