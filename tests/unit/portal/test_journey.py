"""The portal's journey rules: what is on offer, and the estimate the review page shows (the workflow's settlement)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from activities.models import PickupWindow
from integrations.shop import OrderContact, ShopperOrder, ShopperOrderLine
from portal.journey import PICKUP_DAYS_OFFERED, Choice, estimate, lines_on_offer, method_cost, pickup_windows
from portal.pages import COMMENT_MOST, _one_line
from portal.session import LinkExpired, LinkInvalid, Signer
from starter.eligibility import Eligibility, LineEligibility
from starter.policy import load_return_policy
from workflows.rules import pickup_window_problem
from workflows.vocabulary import DeclineReason, ReasonCode, ResolutionKind, ReturnMethod

POLICY = load_return_policy(None)  # the shipped policy: $5.99 return shipping, 10% store credit bonus
ORDER = ShopperOrder(
    order_id="ORD-1",
    customer_id="CUS-1",
    currency="USD",
    delivered_at=datetime(2026, 12, 1, tzinfo=UTC),
    lines=[
        ShopperOrderLine("L1", "TSHIRT", "apparel", 2, 2500, True, title="T-shirt"),
        ShopperOrderLine("L2", "MUG", "kitchen", 1, 600, True, title="Mug"),
        ShopperOrderLine("L3", "GIFT-CARD", "gift_card", 1, 5000, True, title="Gift card"),
    ],
    contact=OrderContact(email="ada@example.com", postal_code="94103"),
    shipping_address=None,
    return_address=None,
)
SHIRTS = [Choice("L1", 2, ReasonCode.size_too_large)]


def test_a_label_refund_is_what_the_items_paid_less_the_return_shipping_fee() -> None:
    shown = estimate(ORDER, SHIRTS, ReturnMethod.mail_label, ResolutionKind.refund, POLICY)
    assert (shown.value, shown.fees, shown.paid_out, shown.bonus) == (5000, 599, 4401, 0)
    assert method_cost(ReturnMethod.mail_label, POLICY, "USD") == 599


def test_store_credit_adds_the_policys_bonus_to_what_a_refund_would_pay() -> None:
    shown = estimate(ORDER, SHIRTS, ReturnMethod.drop_off, ResolutionKind.store_credit, POLICY)
    assert (shown.paid_out, shown.bonus) == (4401 + 440, 440)


@pytest.mark.parametrize("method", [ReturnMethod.in_store, ReturnMethod.keep_it])
def test_nothing_shipped_costs_nothing(method: ReturnMethod) -> None:
    mug = [Choice("L2", 1, ReasonCode.unwanted)]
    assert estimate(ORDER, mug, method, ResolutionKind.refund, POLICY).paid_out == 600
    assert method_cost(method, POLICY, "USD") == 0


def test_each_line_says_how_many_units_may_go_back_and_why_not() -> None:
    checked = Eligibility(
        eligible=True,
        lines=[
            LineEligibility(line_id="L1", returnable=True),
            LineEligibility(line_id="L2", returnable=True),
            LineEligibility(line_id="L3", returnable=False, decline_reason=DeclineReason.non_returnable),
        ],
        review_reason=None,
        policy_version=POLICY.version,
    )
    offered = {offer.line.line_id: offer for offer in lines_on_offer(ORDER, checked, {"L1": 1, "L2": 1}, POLICY)}
    assert (offered["L1"].returnable_units, offered["L1"].in_returns, offered["L1"].why_not) == (1, 1, None)
    assert (offered["L2"].returnable_units, offered["L2"].why_not) == (0, None)  # already in a return
    assert (offered["L3"].returnable_units, offered["L3"].why_not) == (0, DeclineReason.non_returnable)
    assert offered["L1"].window_closes == datetime(2026, 12, 31, tzinfo=UTC)  # delivered + 30 days


def test_a_status_link_names_its_return_until_it_expires_and_a_forged_one_never() -> None:
    signer = Signer("secret", session_seconds=60, link_seconds=1)
    token = signer.status_link_token("RP-1")
    assert signer.return_of(token) == "RP-1"
    with pytest.raises(LinkInvalid):
        Signer("another secret", 60, 1).return_of(token)
    with pytest.raises(LinkInvalid):
        signer.return_of(token[:-3] + "abc")
    time.sleep(2.1)
    with pytest.raises(LinkExpired):
        signer.return_of(token)


def test_an_exchange_pays_no_money_and_no_fee() -> None:
    shown = estimate(ORDER, SHIRTS, ReturnMethod.mail_label, ResolutionKind.exchange, POLICY)
    assert (shown.fees, shown.paid_out) == (0, 0)  # resolution.py: the replacement instead of money


def test_a_shopper_s_note_is_kept_on_one_line_without_what_the_doors_refuse() -> None:
    assert _one_line("Fits like an XL.\r\n  Tags  still on") == "Fits like an XL. Tags still on"
    assert _one_line("\u202eevil\u2066 twin") == "evil twin"  # direction overrides go, the words stay
    assert _one_line(" \n\t ") is None
    assert _one_line("x" * 600) == "x" * COMMENT_MOST


def test_pickup_windows_are_the_carrier_s_rounds_on_coming_days_but_sundays_each_one_bookable() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    saturday_evening = datetime(2026, 12, 5, 18, tzinfo=UTC)

    offered = pickup_windows(saturday_evening, saturday_evening + timedelta(days=14), berlin)

    days = sorted({window.start.astimezone(berlin).date() for window in offered})
    assert days[0] == date(2026, 12, 7)  # Sunday skipped
    assert len(days) == PICKUP_DAYS_OFFERED and all(day.weekday() != 6 for day in days)
    assert [(w.start.astimezone(berlin).hour, w.end.astimezone(berlin).hour) for w in offered[:2]] == [
        (9, 12),
        (13, 17),
    ]
    assert all(
        pickup_window_problem(w, saturday_evening, saturday_evening + timedelta(days=14)) is None for w in offered
    )


def test_pickup_windows_end_before_the_ship_by_deadline_and_start_with_the_carrier_s_notice() -> None:
    monday_eight = datetime(2026, 12, 7, 8, tzinfo=UTC)
    offered = pickup_windows(monday_eight, monday_eight + timedelta(days=2), ZoneInfo("UTC"))
    # today's morning round starts within 2 hours: only the afternoon, and Tuesday (Wednesday ends too late)
    assert [(w.start.day, w.start.hour) for w in offered] == [(7, 13), (8, 9), (8, 13)]


def test_a_pickup_window_the_carrier_can_not_make_says_why() -> None:
    now = datetime(2026, 12, 7, 8, tzinfo=UTC)
    ship_by = now + timedelta(days=14)

    def window(hours_from_now: float, length: float = 3) -> PickupWindow:
        start = now + timedelta(hours=hours_from_now)
        return PickupWindow(start=start, end=start + timedelta(hours=length))

    assert "at least 2 hours" in pickup_window_problem(window(1), now, ship_by)
    assert "at most 14 days ahead" in pickup_window_problem(window(15 * 24), now, ship_by)
    assert "ship-by deadline" in pickup_window_problem(window(24), now, now + timedelta(hours=26))
    assert pickup_window_problem(window(2), now, ship_by) is None
    with pytest.raises(ValueError, match="1 to 12 hours"):
        window(5, length=13)
    with pytest.raises(ValueError, match="1 to 12 hours"):
        window(5, length=-1)
