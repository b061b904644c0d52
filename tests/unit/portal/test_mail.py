"""The shopper's emails say why a return ended in the shopper's language when the workflow gave the
reason itself, and pass an operator's own words on as written."""

from __future__ import annotations

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
