"""What the portal refuses, and that it says so plainly while nothing starts."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from playwright.async_api import Locator, Page, expect

from devstack.stack import ROOT, LocalStack
from starter.client import ReturnsClient
from tests.system.api.doors import exists
from tests.system.local_stack import another_api
from tests.system.portal.conftest import audited, find_order, placed_order

pytestmark = [pytest.mark.browser, pytest.mark.devserver]
NOT_FOUND = "We couldn't find an order with that number and email address or postal code. Please check both."


async def test_a_wrong_email_and_an_unknown_order_get_the_same_answer(page: Page, stack: LocalStack) -> None:
    order = await placed_order(stack)
    await find_order(page, order.order_id, "eve@example.com")
    await expect(page.get_by_role("alert")).to_have_text(NOT_FOUND)
    wrong_email = await page.locator("main").inner_text()
    await audited(page, "refused-wrong-email")
    await find_order(page, "ORD-NO-SUCH-ORDER")
    await expect(page.get_by_role("alert")).to_have_text(NOT_FOUND)
    assert (await page.locator("main").inner_text()).replace("ORD-NO-SUCH-ORDER", order.order_id) == wrong_email


async def test_a_form_without_its_csrf_token_is_refused_and_starts_nothing(
    page: Page, stack: LocalStack, returns: ReturnsClient
) -> None:
    await page.goto("/portal")
    await page.evaluate("document.querySelector('input[name=csrf_token]').remove()")
    await page.get_by_label("Order number").fill("ORD-ANY")
    await page.get_by_label("Email address or postal code").fill("ada@example.com")
    await page.get_by_role("button", name="Find my order").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("This form has expired")

    order = await placed_order(stack)
    await find_order(page, order.order_id)
    await page.locator("#quantity-L1").select_option("1")
    await page.locator("#reason-L1").select_option("color")
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_role("button", name="Continue").click()  # the first method and outcome
    return_id = await page.locator("input[name=return_id]").input_value()
    await page.evaluate("document.querySelector('input[name=csrf_token]').value = 'forged'")
    async with page.expect_response(lambda response: response.url.endswith("/portal/confirm")) as refused:
        await page.get_by_role("button", name="Confirm return").click()
    assert (await refused.value).status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("This form has expired")
    await audited(page, "refused-csrf")
    assert not await exists(returns, return_id)


async def test_lookups_of_one_order_are_rate_limited(page: Page, stack: LocalStack) -> None:
    order = await placed_order(stack)
    for _ in range(10):  # portal_lookups_per_order: 10 in 10 minutes
        await find_order(page, order.order_id, "eve@example.com")
        await expect(page.get_by_role("alert")).to_have_text(NOT_FOUND)
    await find_order(page, order.order_id)  # now even the right email waits
    await expect(page.get_by_role("alert")).to_have_text("Too many attempts. Please wait a few minutes and try again.")


async def test_a_shopper_can_t_pass_for_other_addresses_to_get_more_lookups(stack: LocalStack) -> None:
    """The per-address limit counts the connection's peer: an X-Forwarded-For the shopper writes names
    nobody while API_FORWARDED_ALLOW_IPS is unset, so made-up addresses buy no more attempts."""
    url = await another_api(stack, "api-three-lookups", PORTAL_LOOKUPS_PER_ADDRESS="3/10 minutes")
    async with httpx.AsyncClient(base_url=url, timeout=10) as shopper:
        token = re.search(r'name="csrf_token" value="([^"]+)"', (await shopper.get("/portal")).text)
        assert token is not None
        answers = []
        for n in range(4):
            lookup = {"csrf_token": token.group(1), "order_number": f"ORD-NONE-{n}", "contact": "eve@example.com"}
            answer = await shopper.post("/portal/lookup", data=lookup, headers={"X-Forwarded-For": f"203.0.113.{n}"})
            answers.append(answer.status_code)
    assert answers == [404, 404, 404, 429]


async def test_every_response_carries_the_security_headers(page: Page) -> None:
    response = await page.goto("/portal")
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    cookie = next(c for c in await page.context.cookies() if c["name"] == "portal_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"


async def test_an_expired_or_forged_status_link_says_so(page: Page, stack: LocalStack) -> None:
    class SignedLongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 181 * 86_400  # portal_status_link_days: 180

    secret = stack.settings.portal_secret.get_secret_value()
    old = URLSafeTimedSerializer(secret, salt="portal-status-link", signer=SignedLongAgo).dumps("RP-OLD")
    response = await page.goto(f"/portal/returns/{old}")
    assert response.status == 410
    await expect(page.get_by_role("heading", level=1)).to_have_text("This link has expired")
    await audited(page, "refused-expired-link")

    fresh = URLSafeTimedSerializer(secret, salt="portal-status-link").dumps("RP-OLD")
    response = await page.goto(f"/portal/returns/{fresh[:-2]}xx")
    assert response.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text("We don't know this link")


async def test_a_shop_platform_that_fails_is_a_page_in_the_shoppers_words_not_an_api_error(
    page: Page, stack: LocalStack
) -> None:
    order = await placed_order(stack)
    fault = {"method": "GET", "path": f"/v1/orders/{order.order_id}", "status": 503, "times": 1}
    async with httpx.AsyncClient(timeout=10) as http:
        (await http.post(f"{stack.sandbox_url('shop')}/_sandbox/faults", json=fault)).raise_for_status()
    async with page.expect_response(lambda response: response.url.endswith("/portal/lookup")) as answered:
        await find_order(page, order.order_id)
    assert (await answered.value).status == 503
    await expect(page.get_by_role("heading", level=1)).to_have_text("We can't reach the shop right now")
    await audited(page, "refused-shop-down")
    await find_order(page, order.order_id)  # the shop answers again
    await expect(page.get_by_role("heading", level=1)).to_have_text("Which items are you returning?")


async def tab_to(page: Page, target: Locator, most: int = 40) -> None:
    """Presses Tab until `target` has the focus, as a keyboard user moves through the page."""
    for _ in range(most):
        if await target.evaluate("element => element === document.activeElement"):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{target} is not reached by Tab")


async def test_a_return_can_be_made_with_the_keyboard_alone(
    page: Page, stack: LocalStack, returns: ReturnsClient
) -> None:
    order = await placed_order(stack)
    await page.goto("/portal")
    await page.keyboard.press("Tab")  # the skip link comes first
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await tab_to(page, page.get_by_label("Order number"))
    await page.keyboard.type(order.order_id)
    await page.keyboard.press("Tab")
    await page.keyboard.type("ada@example.com")
    await page.keyboard.press("Enter")

    await expect(page.get_by_role("heading", level=1)).to_have_text("Which items are you returning?")
    await tab_to(page, page.locator("#quantity-L1"))
    await page.keyboard.press("ArrowDown")  # 1 unit
    await page.keyboard.press("Tab")
    await page.keyboard.press("ArrowDown")  # the first reason
    await expect(page.locator("#quantity-L1")).to_have_value("1")
    await expect(page.locator("#reason-L1")).to_have_value("size_too_small")
    await tab_to(page, page.get_by_role("button", name="Continue"))
    await page.keyboard.press("Enter")

    await expect(page.get_by_role("heading", level=1)).to_have_text("How will you send it back?")
    await tab_to(page, page.get_by_role("button", name="Continue"))  # the defaults: prepaid label, refund
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Review your return")
    await tab_to(page, page.get_by_role("button", name="Confirm return"))
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text("Your return is confirmed.")
    return_id = (await page.get_by_role("heading", level=1).inner_text()).removeprefix("Return ")
    assert [(line.line_id, line.quantity) for line in (await returns.status(return_id)).lines] == [("L1", 1)]


async def test_photos_are_taken_by_their_content_and_the_return_carries_their_urls(
    page: Page, stack: LocalStack, returns: ReturnsClient
) -> None:
    order = await placed_order(stack)
    await find_order(page, order.order_id)
    photo = (ROOT / "docs" / "portal-items.png").read_bytes()  # a real PNG (a live screenshot can fail under load)
    kept_before = sorted((stack.log_dir / "photos").glob("*"))

    async def send(files: list[dict]) -> None:
        await page.locator("#quantity-L1").select_option("1")
        await page.locator("#reason-L1").select_option("defective")
        await page.locator("#photos-L1").set_input_files(files)
        await page.get_by_role("button", name="Continue").click()

    await send([{"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": b"<script>not a photo</script>"}])
    await expect(page.get_by_role("alert")).to_have_text("Photos must be JPEG or PNG images.")
    await audited(page, "refused-fake-photo")
    await send([{"name": "huge.png", "mimeType": "image/png", "buffer": photo[:8] + bytes(2_000_000)}])
    await expect(page.get_by_role("alert")).to_have_text("A photo is too large: each may be up to 2 MB.")
    assert sorted((stack.log_dir / "photos").glob("*")) == kept_before  # nothing refused is kept

    await send([{"name": "scratch.png", "mimeType": "image/png", "buffer": photo}])
    await expect(page.get_by_role("heading", level=1)).to_have_text("How will you send it back?")
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_role("button", name="Confirm return").click()
    await expect(page.get_by_role("status")).to_have_text("Your return is confirmed.")
    return_id = (await page.get_by_role("heading", level=1).inner_text()).removeprefix("Return ")
    (line,) = (await returns.status(return_id)).lines
    (url,) = line.shopper_photo_urls
    seen = await page.request.get(url)
    assert seen.ok and await seen.body() == photo  # the photo, as the warehouse will open it
    headers = seen.headers  # an image, inert: never run as a page, sniffed into a script or framed
    assert headers["content-type"] == "image/png" and headers["x-content-type-options"] == "nosniff"
    assert (
        "sandbox" in headers["content-security-policy"] and "default-src 'none'" in headers["content-security-policy"]
    )
    assert headers["cross-origin-resource-policy"] == "same-origin" and headers["referrer-policy"] == "no-referrer"
