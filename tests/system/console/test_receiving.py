"""The warehouse's receiving in a real browser: a scanner types the tracking number and presses
Enter, the parcel's lines are counted and graded; unknown and already-inspected parcels are told."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from devstack.checkout import DEMO_LINES
from devstack.polling import wait_for_stage
from starter.client import ReturnsClient
from tests.system.api.doors import Doors
from tests.system.browser import delivered
from tests.system.console.conftest import shot, signed_in
from workflows.vocabulary import Stage

pytestmark = pytest.mark.browser
SCAN_FIELD = "Scan the parcel (tracking number or return id) and press Enter"
TABLET = 768


async def scan(page: Page, code: str) -> None:
    """What a USB barcode scanner does: types into the focused field, then Enter."""
    await page.goto("/console/receiving")
    await expect(page.get_by_label(SCAN_FIELD)).to_be_focused()
    await page.keyboard.type(code)
    await page.keyboard.press("Enter")


async def test_a_scanned_parcel_is_received_and_graded(page: Page, doors: Doors, returns: ReturnsClient) -> None:
    noted = [
        line.model_copy(update={"comment": "the handle was loose"}) if line.line_id == "L2" else line
        for line in DEMO_LINES
    ]
    status = await doors.started(Stage.label_issued, lines=noted)
    await delivered(doors.stack, returns, status.return_id)
    assert status.label is not None
    await signed_in(page, "dock-3")
    await shot(page, "receiving", narrowest=TABLET)

    await scan(page, status.label.tracking_number)
    await expect(page.get_by_role("heading", name=f"Parcel of return {status.return_id}")).to_be_visible()
    await expect(page.get_by_label("Units of L1 received")).to_have_value("2")
    await page.get_by_label("Units of L1 received").fill("1")  # one shirt in this parcel, one to come
    await shot(page, "receiving-units", narrowest=TABLET)
    await page.get_by_role("button", name="Record the parcel").click()

    await expect(page.get_by_role("status")).to_contain_text("Recorded.")
    await expect(page.get_by_label("Units of L2 received")).to_have_count(0)  # the mug came
    await expect(page.get_by_label("Units of L1 received")).to_have_value("1")
    await page.get_by_role("button", name="Record another parcel").click()
    await expect(page.get_by_role("status")).to_contain_text("Recorded.")
    await expect(page.get_by_role("button", name="Record another parcel")).to_have_count(0)
    await expect(page.locator("q.shopper-comment")).to_have_text(
        "the handle was loose"
    )  # the shopper's note, for grading
    await page.get_by_label("Grade of L1").select_option("A")
    await page.get_by_label("Grade of L2").select_option("D")
    await page.get_by_label("Notes on L2").fill("handle broken off")
    photo = await page.screenshot()  # a real PNG
    photos = page.get_by_label("Photos of L2 (up to 3, JPEG or PNG)")
    await photos.set_input_files([{"name": "fake.png", "mimeType": "image/png", "buffer": b"<svg onload=alert(1)>"}])
    await page.get_by_role("button", name="Record the grades").click()
    await expect(page.locator("main")).to_contain_text("Photos must be JPEG or PNG images.")  # nothing recorded
    assert (await returns.status(status.return_id)).inspected_by is None
    await page.go_back()
    await page.reload()
    await page.get_by_label("Grade of L1").select_option("A")
    await page.get_by_label("Grade of L2").select_option("D")
    await page.get_by_label("Notes on L2").fill("handle broken off")
    await photos.set_input_files([{"name": "mug.png", "mimeType": "image/png", "buffer": photo}])
    await shot(page, "receiving-grades", narrowest=TABLET)
    await page.get_by_role("button", name="Record the grades").click()

    await expect(page.locator("td.disposition")).to_have_count(2)
    await shot(page, "receiving-dispositions", narrowest=TABLET)
    done = await wait_for_stage(returns, status.return_id, Stage.completed)
    lines = {line.line_id: line for line in done.lines}
    assert (lines["L1"].received_quantity, lines["L1"].grade, lines["L2"].grade) == (2, "A", "D")
    assert done.inspected_by == "warehouse:dock-3"
    assert (lines["L2"].inspection_notes, len(lines["L2"].inspection_photo_urls)) == ("handle broken off", 1)
    seen = await page.request.get(lines["L2"].inspection_photo_urls[0])  # kept, and served as an inert image
    assert await seen.body() == photo and seen.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert any(entry.actor == "warehouse:dock-3" for entry in done.timeline)

    await scan(page, status.label.tracking_number)  # the same parcel again
    await expect(page.get_by_role("alert")).to_contain_text("already inspected")

    work_order = next(line for line in done.lines if line.disposition_work_id and line.disposition != "restock")
    await page.get_by_role("button", name="Confirm work done").click()
    await expect(page.get_by_role("status")).to_contain_text("Recorded.")
    await expect(page.get_by_role("button", name="Confirm work done")).to_have_count(0)
    confirmed = {line.line_id: line for line in (await returns.status(status.return_id)).lines}
    assert confirmed[work_order.line_id].disposition_confirmed_by == "warehouse:dock-3"


async def test_an_unknown_parcel_is_told_and_nothing_is_recorded(page: Page) -> None:
    await signed_in(page, "dock-3")
    await scan(page, "9400NOSUCHPARCEL")
    await expect(page.get_by_role("alert")).to_contain_text("No return has the tracking number or id")
    await expect(page.get_by_label(SCAN_FIELD)).to_be_focused()
    await shot(page, "receiving-unknown", narrowest=TABLET)
