"""The operator's console in a real browser: queues filled by real returns, an approval that
shows in the timeline, a refusal when the state moved, a bulk retry after a Stripe outage."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from console.queues import LABELS_EXPIRING_WITHIN_DAYS
from devstack.__main__ import print_console
from devstack.demo import carrier_reports, role_headers, run_demo
from devstack.polling import wait_for_stage
from portal.journey import pickup_windows
from starter.client import ReturnsClient
from store.sales import copy_recent_sales
from tests.system.api.doors import Doors, eventually
from tests.system.browser import delivered, ledger_refunds, sent_back_and_graded
from tests.system.console import code128
from tests.system.console.conftest import shot, signed_in
from tests.system.local_stack import another_api
from workflows.vocabulary import ReturnMethod, Stage, TrackingStatus

pytestmark = pytest.mark.browser
IN_REVIEW = {"customer_return_count": 11}  # over the policy's review threshold


async def count_of(page: Page, queue: str, at_least: int) -> int:
    """The queue's count on the queues page, reloaded until visibility has caught up."""
    for _ in range(50):
        await page.goto("/console/queues")
        count = int(await page.locator(f"td[data-queue={queue}]").inner_text())
        if count >= at_least:
            return count
        await page.wait_for_timeout(200)
    return count


async def listing(page: Page, path: str, *return_ids: str) -> None:
    """Opens `path` again until it lists every one of `return_ids` (visibility and the store's read
    model follow a return a moment after it moves)."""
    for _ in range(50):
        await page.goto(path)
        if all([await page.get_by_role("link", name=rid).count() for rid in return_ids]):
            return
        await page.wait_for_timeout(200)


async def test_a_system_key_can_t_sign_in_nor_a_made_up_one(page: Page) -> None:
    for key in ("local-warehouse-key", "not-a-key"):
        await page.goto("/console/sign-in")
        await page.get_by_label("Your API key").fill(key)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_contain_text("not an operator's or a warehouse person's own key")
    await shot(page, "sign-in-refused", narrowest=320)
    await page.goto("/console/queues")
    await expect(page).to_have_url(re.compile(r"/console/sign-in$"))


async def test_queues_count_real_returns_and_an_approval_shows_in_the_timeline(page: Page, doors: Doors) -> None:
    review = await doors.started(Stage.needs_review, order_changes=IN_REVIEW)
    shippo = doors.stack.sandbox_url("shippo")
    await doors.http.post(f"{shippo}/_sandbox/faults", json={"method": "POST", "path": "/shipments", "status": 400})
    stuck = await doors.new_request()
    (await doors.start(stuck)).raise_for_status()
    await eventually(lambda: doors.status(stuck.return_id), lambda status: status.attention is not None)

    await signed_in(page, "kim")
    assert await count_of(page, "needs-review", 1) >= 1
    assert await count_of(page, "needs-attention", 1) >= 1
    await shot(page, "queues")

    await page.get_by_role("link", name="Needs attention").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=stuck.return_id))
    await expect(row).to_contain_text("buy label")
    failed = (await doors.status(stuck.return_id)).attention
    assert failed is not None and failed.step and failed.error_type
    step_row = page.locator("#failed-steps tr").filter(has_text=failed.step).filter(has_text=failed.error_type)
    await expect(step_row).to_have_count(1)  # the whole queue's breakdown, from the event store
    await shot(page, "queue-needs-attention")

    await page.goto("/console/queues")
    await page.get_by_role("link", name="Needs review").click()
    await page.get_by_role("link", name=review.return_id).click()
    await expect(page.locator(".stage")).to_have_text("needs_review")
    await shot(page, "return-in-review")
    approve = page.locator(f"form[action='/console/returns/{review.return_id}/approve']")
    await approve.get_by_label("Reason").fill("regular customer, looks fine")
    await approve.get_by_role("button", name="Approve").click()

    await expect(page.get_by_role("status")).to_contain_text("Approve: done.")
    timeline = page.locator("table.timeline")
    await expect(timeline).to_contain_text("operator:kim")
    approved = await doors.wait_for(review.return_id, Stage.label_issued)
    assert any(
        entry.actor == "operator:kim" and "regular customer, looks fine" in entry.detail for entry in approved.timeline
    ), approved.timeline
    await page.reload()
    await shot(page, "return-approved")


async def test_an_action_on_a_state_that_moved_is_refused_with_the_validator_s_message(
    page: Page, doors: Doors
) -> None:
    review = await doors.started(Stage.needs_review, order_changes=IN_REVIEW)
    await signed_in(page, "kim")
    await page.goto(f"/console/returns/{review.return_id}")
    decided = await doors.act("operator", review.return_id, "reject", {"reason": "fraud pattern"})
    assert decided.status_code == 200

    approve = page.locator(f"form[action='/console/returns/{review.return_id}/approve']")
    await approve.get_by_label("Reason").fill("looks fine")
    await approve.get_by_role("button", name="Approve").click()

    await expect(page.get_by_role("alert")).to_contain_text("Refused: the return is declined")
    assert (await doors.status(review.return_id)).stage is Stage.declined
    await shot(page, "refused-state-moved")


async def test_a_warehouse_login_can_t_approve(page: Page, doors: Doors) -> None:
    review = await doors.started(Stage.needs_review, order_changes=IN_REVIEW)
    await signed_in(page, "dock-3")
    await page.goto("/console/queues")
    await expect(page.get_by_role("heading", name="Not for your role")).to_be_visible()
    await shot(page, "not-for-your-role")
    await page.goto(f"/console/returns/{review.return_id}")
    await expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = await page.request.post(
        f"/console/returns/{review.return_id}/approve", form={"csrf_token": token or "", "reason": "sneaky"}
    )
    assert answer.status == 403
    assert (await doors.status(review.return_id)).stage is Stage.needs_review


async def test_a_bulk_retry_after_a_stripe_outage_refunds_each_return_once(
    page: Page, doors: Doors, returns: ReturnsClient, tmp_path: Path
) -> None:
    # Returns whose policy waits a vendor's outage out for seconds, not the shipped six minutes,
    # so the refund step reaches an operator while the test watches.
    policy = returns.policy.model_dump(mode="json", exclude_unset=True)
    policy["vendor_outage"] = {"first_retry_seconds": 0.2, "longest_wait_seconds": 0.5, "attempts": 3}
    brief = tmp_path / "brief-outage-policy.json"
    brief.write_text(json.dumps(policy))
    brief_url = await another_api(doors.stack, "api-brief-outages", RETURN_POLICY_FILE=str(brief))
    requests = [await doors.new_request() for _ in range(2)]
    async with httpx.AsyncClient(base_url=brief_url, timeout=30, headers=doors.headers("storefront")) as api:
        for request in requests:
            (await api.post("/v1/returns", json=request.model_dump(mode="json"))).raise_for_status()
    for request in requests:
        await doors.wait_for(request.return_id, Stage.label_issued)
    stripe = doors.stack.sandbox_url("stripe")
    async with httpx.AsyncClient(timeout=10) as http:
        outage = {"method": "POST", "path": "/v1/refunds", "status": 503, "times": 1_000}  # Stripe down
        (await http.post(f"{stripe}/_sandbox/faults", json=outage)).raise_for_status()
        for request in requests:
            await sent_back_and_graded(doors.stack, returns, request.return_id, {"L1": 2, "L2": 1})
        for request in requests:
            failed = await eventually(
                lambda rid=request.return_id: doors.status(rid), lambda status: status.attention is not None, 60
            )
            assert failed.attention is not None and failed.attention.step, failed
            assert failed.attention.step == "refund", failed
        calls = 1_000 - (await http.get(f"{stripe}/_sandbox/faults")).json()[0]["times"]
        assert calls >= 2 * 3, calls  # each return's three tries (and the SDK's own) all met the outage
        (await http.delete(f"{stripe}/_sandbox/faults")).raise_for_status()
    for request in requests:
        assert await ledger_refunds(doors.stack, request.payment_intent_id) == []

    await signed_in(page, "kim")
    chosen = [request.return_id for request in requests]
    await listing(page, "/console/queues/needs-attention", *chosen)
    # every return that failed on the refund step, chosen at once from the page's breakdown
    failed = (await doors.status(chosen[0])).attention
    assert failed is not None and failed.step
    await page.get_by_role("link", name=re.compile(f"^Choose the 2 waiting for failed step: {failed.step} ")).click()
    await expect(page.get_by_role("status")).to_contain_text(
        f"Chosen: the 2 on this page waiting for failed step: {failed.step}"
    )
    for rid in chosen:
        await expect(page.get_by_label(f"Choose {rid}")).to_be_checked()
    await shot(page, "queue-chosen-by-step")
    await page.get_by_label("Reason for retrying").fill("Stripe is back")
    await page.get_by_role("button", name="Retry chosen").click()
    await expect(page.get_by_role("heading")).to_contain_text("Retry the failed step of 2 returns?")
    await shot(page, "bulk-confirm")
    await page.get_by_role("button", name="Retry 2 returns").click()

    for rid in chosen:
        await expect(page.get_by_role("row").filter(has=page.get_by_role("link", name=rid))).to_contain_text("retried")
    await shot(page, "bulk-results")
    for request in requests:
        done = await wait_for_stage(returns, request.return_id, Stage.completed)
        refunds = await ledger_refunds(doors.stack, request.payment_intent_id)
        assert len(refunds) == 1, refunds
        assert done.refund is not None and refunds[0]["id"] == done.refund.refund_id


async def test_the_demo_return_shows_up_in_the_console_make_run_points_to(
    page: Page, doors: Doors, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = await run_demo(doors.stack.settings, doors.stack.api_url)
    print_console(doors.stack, demo.return_id)
    printed = capsys.readouterr().out
    assert f"{doors.stack.api_url}/console" in printed
    assert "local-operator-key" in printed and "local-inspector-key" in printed

    await signed_in(page, "kim")
    await listing(page, f"/console/returns?q={demo.return_id}&stage=completed", demo.return_id)
    await shot(page, "search")
    await page.get_by_role("link", name=demo.return_id).click()
    await expect(page.locator(".stage")).to_have_text("completed")
    await expect(page.locator(".paid")).to_contain_text("$")
    barcode = page.get_by_alt_text(f"Code 128 barcode of {demo.return_id}")
    assert await barcode.evaluate("image => image.complete && image.naturalWidth > 0")
    drawn = await page.request.get(await barcode.get_attribute("src") or "")
    assert code128.decode(await drawn.text()) == demo.return_id  # what a scanner at the dock reads
    await shot(page, "return-completed")


async def test_the_dashboard_draws_the_store_s_reports_and_downloads_them_as_csv(page: Page, doors: Doors) -> None:
    demo = await run_demo(doors.stack.settings, doors.stack.api_url)
    assert demo.refund is not None
    assert await copy_recent_sales(doors.stack.settings, days=30) > 0  # as `make run` does: units sold
    await signed_in(page, "kim")
    money = page.locator("table[data-report=money] tbody tr")
    for _ in range(50):  # the return's events reach the store a moment after its stage
        await page.goto("/console/dashboard")
        if await money.count() and await page.locator("table[data-report=dispositions] tbody tr").count():
            break
        await page.wait_for_timeout(200)
    charted = (
        "returns_by_reason",
        "return_rate_by_month",
        "return_rate_by_sku",
        "return_rate_by_category",
        "money",
        "durations",
    )
    for report in (*charted, "dispositions"):
        section = page.locator("section").filter(has=page.locator(f"table[data-report={report}]"))
        assert await section.locator("svg.chart rect").count() > 0, report
    days = await page.locator("table[data-report=needs_attention_trend] tbody tr").count()
    assert days >= 28  # a row per day of the range, flagged or not
    shirts = page.locator("table[data-report=return_rate_by_sku] tbody tr").filter(has_text="TSHIRT-M-BLUE")
    await expect(shirts).not_to_have_count(0)  # the demo returned shirts the shop had sold (figures folded away)
    this_month = page.locator("table[data-report=return_rate_by_month] tbody tr").filter(
        has_text=f"{datetime.now(UTC):%Y-%m}"
    )
    await expect(this_month).not_to_have_count(0)  # the trend's last month holds the demo's units
    await shot(page, "dashboard")

    columns = await page.locator("table[data-report=money] thead th").all_text_contents()
    shown = dict(zip(columns, await money.first.locator("td").all_text_contents(), strict=True))
    assert shown["currency"] == "USD" and int(shown["refunded"]) >= demo.refund.amount

    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="Download refunds, credit and retained revenue (CSV)").click()
    download = await downloading.value
    text = await asyncio.to_thread(Path(await download.path()).read_text)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert download.suggested_filename == "money.csv"
    assert rows[0]["currency"] == "USD" and rows[0]["refunded"] == shown["refunded"]


async def test_a_deadline_extended_and_the_return_cancelled_from_its_page(page: Page, doors: Doors) -> None:
    status = await doors.started(Stage.label_issued)
    await signed_in(page, "kim")
    await page.goto(f"/console/returns/{status.return_id}")

    extend = page.locator(f"form[action='/console/returns/{status.return_id}/extend-deadline']")
    await extend.get_by_label("Deadline").select_option("ship_by")
    await extend.get_by_label("Days later").fill("5")
    await extend.get_by_label("Reason").fill("shopper travelling")
    await extend.get_by_role("button", name="Extend").click()
    await expect(page.get_by_role("status")).to_contain_text("Extend a deadline: done.")
    extended = await doors.status(status.return_id)
    assert extended.deadlines["ship_by"] - status.deadlines["ship_by"] == timedelta(days=5)

    cancel = page.locator(f"form[action='/console/returns/{status.return_id}/cancel']")
    await cancel.get_by_label("Reason").fill("duplicate of another return")
    await cancel.get_by_role("button", name="Cancel the return").click()
    await expect(page.get_by_role("status")).to_contain_text("Cancel: done.")
    cancelled = await doors.wait_for(status.return_id, Stage.cancelled)
    assert any(
        entry.actor == "operator:kim" and "duplicate of another return" in entry.detail for entry in cancelled.timeline
    ), cancelled.timeline
    await page.reload()
    await expect(page.locator("table.timeline")).to_contain_text("duplicate of another return")
    await expect(page.get_by_role("heading", name="Actions")).to_have_count(0)  # nothing left to do
    await shot(page, "return-cancelled")


async def test_a_reviewed_batch_approved_at_once(page: Page, doors: Doors) -> None:
    reviewed = [await doors.started(Stage.needs_review, order_changes=IN_REVIEW) for _ in range(2)]
    chosen = [status.return_id for status in reviewed]
    await signed_in(page, "kim")
    await listing(page, "/console/queues/needs-review", *chosen)
    for rid in chosen:
        await page.get_by_label(f"Choose {rid}").check()
    await page.get_by_label("Reason for approving").fill("checked the batch")
    await page.get_by_role("button", name="Approve chosen").click()
    await expect(page.get_by_role("heading")).to_contain_text("Approve 2 returns?")
    await page.get_by_role("button", name="Approve 2 returns").click()

    for rid in chosen:
        await expect(page.get_by_role("row").filter(has=page.get_by_role("link", name=rid))).to_contain_text("approved")
        approved = await doors.wait_for(rid, Stage.label_issued)
        assert any(entry.actor == "operator:kim" and "checked the batch" in entry.detail for entry in approved.timeline)


async def test_a_lost_parcel_waits_in_the_decision_queue_and_is_found_by_sku(page: Page, doors: Doors) -> None:
    status = await doors.started(Stage.label_issued)
    assert status.label is not None
    for scan in (TrackingStatus.transit, TrackingStatus.failure):
        await carrier_reports(doors.http, doors.stack.settings, status.label.tracking_number, scan)
    waiting = await eventually(
        lambda: doors.status(status.return_id), lambda status: status.awaiting_decision is not None, 30
    )
    assert waiting.awaiting_decision == "lost_parcel"

    await signed_in(page, "kim")
    await listing(page, "/console/queues/waiting-for-a-decision", status.return_id)
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=status.return_id))
    await expect(row).to_contain_text("decision: lost_parcel")
    await shot(page, "queue-waiting-for-a-decision")

    await page.goto("/console/returns")
    await page.get_by_label("SKU").fill("MUG-WHITE")
    await page.get_by_label("Method").select_option("mail_label")
    await page.get_by_label("Stage").select_option("in_transit")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("link", name=status.return_id)).to_be_visible()
    await shot(page, "search-by-sku")
    await page.get_by_label("Stage").select_option("")
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("columnheader", name="Return").get_by_role("link").click()  # sort by the column
    await expect(page.get_by_role("columnheader", name="Return")).to_have_attribute("aria-sort", "ascending")
    shown = await page.locator("table tbody th a").all_inner_texts()
    assert len(shown) >= 1 and shown == sorted(shown) and "sort=return" in page.url
    await page.get_by_label("SKU").fill("NO-SUCH-SKU")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("p.count")).to_have_text("0 found.")

    await page.get_by_role("link", name="Queues").click()
    await page.get_by_role("link", name="Waiting for a decision").click()
    await page.get_by_role("link", name=status.return_id).click()
    await expect(page.locator(".waiting")).to_contain_text("lost_parcel")
    approve = page.locator(f"form[action='/console/returns/{status.return_id}/approve']")
    await approve.get_by_label("Reason").fill("carrier confirmed the loss")
    await approve.get_by_role("button", name="Approve").click()
    await expect(page.get_by_role("status")).to_contain_text("Approve: done.")
    resolved = await doors.wait_for(status.return_id, Stage.completed)
    assert resolved.refund is not None


async def test_a_disabled_event_endpoint_is_an_alert_on_the_queues_page_and_enabled_from_it(
    page: Page, doors: Doors
) -> None:
    operator = role_headers(doors.stack.settings, "operator")
    subscriptions = f"{doors.stack.api_url}/v1/event-subscriptions"
    created = await doors.http.post(
        subscriptions, json={"url": "https://erp.example/hooks", "description": "ERP"}, headers=operator
    )
    subscription_id = created.raise_for_status().json()["subscription"]["id"]
    failing = {"state": "disabled", "reason": "a delivery kept failing until 2026-12-01 09:00 UTC (last: 503)"}
    (await doors.http.patch(f"{subscriptions}/{subscription_id}", json=failing, headers=operator)).raise_for_status()

    await signed_in(page, "kim")
    await page.goto("/console/queues")
    alert = page.locator(f"tr[data-subscription='{subscription_id}']")
    await expect(alert).to_contain_text("kept failing until 2026-12-01 09:00 UTC")
    assert "Event endpoints" not in await page.title()  # the alert is the page's, not its title's
    await shot(page, "queues-endpoint-disabled")
    await alert.get_by_role("button", name="Enable ERP").click()

    await expect(page.get_by_role("status")).to_contain_text("Events go to https://erp.example/hooks again")
    await expect(page.locator(f"tr[data-subscription='{subscription_id}']")).to_have_count(0)
    shown = (await doors.http.get(f"{subscriptions}/{subscription_id}", headers=operator)).json()
    assert (shown["state"], shown["disabled_reason"]) == ("enabled", None)
    off = {"state": "disabled", "reason": "the test is over"}  # no deliveries to erp.example from the other tests
    (await doors.http.patch(f"{subscriptions}/{subscription_id}", json=off, headers=operator)).raise_for_status()


async def test_an_email_finds_its_customers_returns_through_the_shop_platform(page: Page, doors: Doors) -> None:
    shopper = uuid.uuid4().hex[:8]
    status = await doors.started(Stage.label_issued, email=f"Lin.{shopper}@Example.com", customer_id=f"CUS-{shopper}")

    await signed_in(page, "kim")
    await page.goto("/console/returns")
    search_for = page.get_by_label("Return id, order, customer, email or tracking number")
    for _ in range(50):  # visibility follows a return a moment after it moves
        await search_for.fill(f"lin.{shopper}@example.com")  # any case, as shoppers type it
        await page.get_by_role("button", name="Search").click()
        if await page.get_by_role("link", name=status.return_id).count():
            break
        await page.wait_for_timeout(200)
    found = page.locator("table tbody th a")
    await expect(found).to_have_text([status.return_id])  # that customer's return, no other
    await shot(page, "search-by-email")
    await search_for.fill(f"nobody.{shopper}@example.com")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("table tbody")).to_have_text("None.")


async def test_the_time_queues_hold_the_returns_past_their_policy_s_days(
    browser: Browser, doors: Doors, returns: ReturnsClient, tmp_path: Path
) -> None:
    """In transit too long, delivered but not inspected, labels expiring: each a visibility query on
    the stage-since attribute against the console's policy. Returns of today are in none of them under
    the shipped policy; a console whose policy counts those deadlines in seconds sees each in its own."""
    label = await doors.started(Stage.label_issued)
    moving = await doors.started(Stage.label_issued)
    arrived = await doors.started(Stage.label_issued)
    async with httpx.AsyncClient(base_url=doors.stack.api_url, timeout=30) as api:
        assert moving.label is not None
        await carrier_reports(api, doors.stack.settings, moving.label.tracking_number, TrackingStatus.transit)
    await wait_for_stage(returns, moving.return_id, Stage.in_transit)
    await delivered(doors.stack, returns, arrived.return_id)

    deadlines = {"transit_stall_days": 1e-5, "receiving_days": 1e-5, "inspection_sla_days": 1e-5}
    deadlines["ship_by_days"] = LABELS_EXPIRING_WITHIN_DAYS + 1e-5  # 1e-5 days: under a second
    policy = returns.policy.model_dump(mode="json", exclude_unset=True)  # as a shop writes its file
    policy["deadlines"] |= deadlines
    quick = tmp_path / "seconds-policy.json"
    quick.write_text(json.dumps(policy))
    quick_url = await another_api(doors.stack, "api-seconds-policy", RETURN_POLICY_FILE=str(quick))

    expected = {"in-transit-too-long": moving, "not-inspected": arrived, "labels-expiring": label}
    shipped = await browser.new_context(base_url=doors.stack.api_url)
    seconds = await browser.new_context(base_url=quick_url)
    try:
        today, quick_page = await shipped.new_page(), await seconds.new_page()
        await signed_in(today, "kim")
        await signed_in(quick_page, "kim")
        for slug, status in expected.items():
            await today.goto(f"/console/queues/{slug}")
            await expect(today.get_by_role("link", name=status.return_id)).to_have_count(0)
            await listing(quick_page, f"/console/queues/{slug}", status.return_id)
            await expect(quick_page.get_by_role("link", name=status.return_id)).to_have_count(1)
            for other in expected.values():
                if other is not status:  # each return in its own stage's queue only
                    await expect(quick_page.get_by_role("link", name=other.return_id)).to_have_count(0)
        await shot(quick_page, "queue-labels-expiring")
    finally:
        await shipped.close()
        await seconds.close()


async def test_a_review_rejected_a_failed_step_retried_and_another_closed_unresolved_from_their_pages(
    page: Page, doors: Doors
) -> None:
    review = await doors.started(Stage.needs_review, order_changes=IN_REVIEW)
    shippo = doors.stack.sandbox_url("shippo")
    stuck = []
    for _ in range(2):  # each label purchase refused once, for good (a 400): the step waits for an operator
        fault = {"method": "POST", "path": "/shipments", "status": 400, "times": 1}
        (await doors.http.post(f"{shippo}/_sandbox/faults", json=fault)).raise_for_status()
        request = await doors.new_request()
        (await doors.start(request)).raise_for_status()
        await eventually(lambda rid=request.return_id: doors.status(rid), lambda status: status.attention is not None)
        stuck.append(request.return_id)
    await signed_in(page, "kim")

    async def act(return_id: str, action: str, button: str, reason: str, **choices: str) -> None:
        await page.goto(f"/console/returns/{return_id}")
        form = page.locator(f"form[action='/console/returns/{return_id}/{action}']")
        for label, value in choices.items():
            await form.get_by_label(label).select_option(value)
        await form.get_by_label("Reason").fill(reason)
        await form.get_by_role("button", name=button).click()
        await expect(page.get_by_role("status")).to_contain_text(": done.")

    await act(review.return_id, "reject", "Reject", "same address as a known fraud")
    await act(stuck[0], "retry", "Retry", "Shippo answers again")
    await act(stuck[1], "other-way", "Resolve", "the shopper keeps the item", Way="close_unresolved")

    outcomes = {
        review.return_id: (Stage.declined, "same address as a known fraud"),
        stuck[0]: (Stage.label_issued, "Shippo answers again"),
        stuck[1]: (Stage.failed_needs_attention, "the shopper keeps the item"),
    }
    for return_id, (stage, reason) in outcomes.items():
        status = await doors.wait_for(return_id, stage)
        assert any(entry.actor == "operator:kim" and reason in entry.detail for entry in status.timeline), status
        await page.goto(f"/console/returns/{return_id}")
        await expect(page.locator("table.timeline")).to_contain_text(reason)
    await shot(page, "return-closed-unresolved")


async def test_a_carrier_pickup_is_moved_and_cancelled_through_the_api_and_the_console_shows_what_to_tell_the_carrier(
    page: Page, doors: Doors
) -> None:
    now = datetime.now(UTC)
    first, second = pickup_windows(now, now + timedelta(days=14), ZoneInfo("UTC"))[:2]
    status = await doors.started(method=ReturnMethod.pickup, pickup=first)
    return_id = status.return_id
    status = await eventually(lambda: doors.status(return_id), lambda s: s.pickup.booked is not None)
    first_code = status.pickup.booked.confirmation_code
    pickup_path = f"/v1/returns/{return_id}/pickup"
    shop = doors.headers("storefront")

    too_soon = {"start": now.isoformat(), "end": (now + timedelta(hours=3)).isoformat()}
    refused = await doors.http.put(pickup_path, json={"reason": "asap", "window": too_soon}, headers=shop)
    assert refused.status_code == 422 and "at least 2 hours" in refused.text
    moved = await doors.http.put(
        pickup_path, json={"reason": "not home", "window": second.model_dump(mode="json")}, headers=shop
    )
    assert moved.status_code == 200, moved.text
    status = await eventually(
        lambda: doors.status(return_id), lambda s: s.pickup.booked is not None and s.pickup.booked.start == second.start
    )
    assert [released.confirmation_code for released in status.pickup.released] == [first_code]
    cancelled = await doors.http.request("DELETE", pickup_path, json={"reason": "dropping it off"}, headers=shop)
    assert cancelled.status_code == 200, cancelled.text
    again = await doors.http.request("DELETE", pickup_path, json={"reason": "twice"}, headers=shop)
    assert again.status_code == 409 and "no pickup is booked" in again.text
    mailed = await doors.started()
    not_pickup = await doors.http.request(
        "DELETE", f"/v1/returns/{mailed.return_id}/pickup", json={"reason": "x"}, headers=shop
    )
    assert not_pickup.status_code == 409

    await signed_in(page, "kim")
    await page.goto(f"/console/returns/{return_id}")
    pickup = page.locator("#pickup")
    await expect(pickup).to_contain_text("none: the shopper drops the parcel off")
    await expect(pickup).to_contain_text(first_code)  # given up: the operator tells the carrier
    status = await doors.status(return_id)
    assert len(status.pickup.released) == 2
    await expect(pickup).to_contain_text(status.pickup.released[1].confirmation_code)
    await shot(page, "return-pickup-released")


async def test_a_disposition_overridden_from_the_return_page_is_the_work_ordered_after_inspection(
    page: Page, doors: Doors, returns: ReturnsClient
) -> None:
    status = await doors.started(Stage.label_issued)
    return_id = status.return_id
    await delivered(doors.stack, returns, return_id)
    await signed_in(page, "kim")
    await page.goto(f"/console/returns/{return_id}")

    override = page.locator(f"form[action='/console/returns/{return_id}/override-disposition']")
    await override.get_by_label("Line").select_option("L1")
    await override.get_by_label("Disposition").select_option("donate")
    await override.get_by_label("Reason").fill("charity drive this month")
    await override.get_by_role("button", name="Override").click()
    await expect(page.get_by_role("status")).to_contain_text("Override a disposition: done.")
    await expect(page.locator("table.timeline")).to_contain_text(
        "L1 disposition set to donate: charity drive this month"
    )
    await shot(page, "return-disposition-overridden")

    await sent_back_and_graded(doors.stack, returns, return_id, {"L1": 2, "L2": 1})
    done = await wait_for_stage(returns, return_id, Stage.completed)
    line = next(line for line in done.lines if line.line_id == "L1")
    assert (line.disposition.value, line.disposition_override_reason) == ("donate", "charity drive this month")
    work_orders = (await doors.http.get(f"{doors.stack.sandbox_url('shop')}/_sandbox/work_orders")).json()
    ordered = next(order for order in work_orders if order["id"] == line.disposition_work_id)
    assert (ordered["kind"], ordered["quantity"]) == ("donation", 2)
