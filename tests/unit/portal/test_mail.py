"""The shopper's emails say why a return ended in the shopper's language when the workflow gave the
reason itself, and pass an operator's own words on as written."""

from __future__ import annotations

from datetime import UTC, datetime

from activities.models import NotificationKind, SaidWhy, ShopperEmail
from integrations.settings import Settings
from portal.mail import return_news
from portal.words import WHY


def _text(kind: NotificationKind, detail: str, language: str) -> str:
    email = ShopperEmail(return_id="R-1", order_id="ORD-1", kind=kind, language=language, detail=detail)
    return return_news(Settings(), email, "ada@example.com", None).get_body(("plain",)).get_content()


def test_the_workflow_s_own_reasons_are_said_in_german() -> None:
    declined = _text(NotificationKind.declined, SaidWhy.rejected_in_review, "de")
    assert "bei der Prüfung abgelehnt" in declined and "rejected in review" not in declined
    cancelled = _text(NotificationKind.cancelled, SaidWhy.cancelled_on_the_portal, "de")
    assert "von Ihnen im Rückgabeportal storniert" in cancelled
    assert "rejected in review" in _text(NotificationKind.declined, SaidWhy.rejected_in_review, "en")


def test_an_operator_s_reason_is_passed_on_as_written() -> None:
    assert "duplicate of R-7" in _text(NotificationKind.cancelled, "duplicate of R-7", "de")


def test_every_reason_the_workflow_gives_has_its_words() -> None:
    assert set(WHY) == set(SaidWhy)
    assert all(WHY[why] == why.value for why in SaidWhy)  # the catalog's key is the workflow's text


def test_a_pickup_email_writes_the_window_out_in_the_shop_s_time_zone_and_language() -> None:
    email = ShopperEmail(
        return_id="R-1",
        order_id="ORD-1",
        kind=NotificationKind.pickup_booked,
        language="de",
        until=datetime(2026, 12, 3, 8, tzinfo=UTC),
        detail="2026-12-03T08:00:00+00:00/2026-12-03T11:00:00+00:00",
    )
    message = return_news(Settings(pickup_time_zone="Europe/Berlin"), email, "ada@example.com", None)
    text = message.get_body(("plain",)).get_content()
    assert "3. Dezember 2026, 09:00 – 12:00" in text  # 08:00 UTC is 09:00 in Berlin in winter
    assert "3. Dezember 2026" in message["Subject"]
