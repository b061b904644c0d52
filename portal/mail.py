"""The shopper's emails, as plain text and HTML in the shopper's language: the portal's confirmation
(its status link leads to the label, the timeline and the cancel button) and the return's own news
(activities/mail.py: label ready, a reminder before the ship-by day, received, refunded, ...).
Sent over SMTP by integrations/mail.py."""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from zoneinfo import ZoneInfo

from activities.models import ShopperEmail
from integrations.settings import Settings
from portal.language import LOCALES, TEMPLATES, TRANSLATIONS
from portal.words import EMAILS, WHY, _
from web.formats import day, money, window


def confirmation(settings: Settings, language: str, to: str, return_id: str, status_url: str) -> EmailMessage:
    subject = TRANSLATIONS[language].gettext(_("Your return %(id)s is confirmed")) % {"id": return_id}
    context = {"return_id": return_id, "status_url": status_url}
    return _message(settings, language, "confirmed", subject, to, context, make_msgid(domain="returns.local"))


def return_news(settings: Settings, email: ShopperEmail, to: str, status_url: str | None) -> EmailMessage:
    """What the return's workflow tells the shopper. Its Message-ID follows from what it says, so a
    message sent again (an attempt that failed after the server took it) reads as the same one."""
    language = email.language if email.language in LOCALES else "en"
    locale = LOCALES[language]
    subject, text = (TRANSLATIONS[language].gettext(words) for words in EMAILS[email.kind.value])
    values = {
        "id": email.return_id,
        "date": day(email.until, locale=locale) if email.until else "",
        "amount": money(email.amount, email.currency, locale=locale)
        if email.amount is not None and email.currency
        else "",
        "why": TRANSLATIONS[language].gettext(WHY[email.detail]) if email.detail in WHY else email.detail,
        "window": _window(email.detail, ZoneInfo(settings.pickup_time_zone), locale),
    }
    said = f"{email.return_id}|{email.kind.value}|{email.amount}|{email.until}|{email.detail}"
    message_id = f"<{hashlib.sha256(said.encode()).hexdigest()[:32]}@returns.local>"
    context = {"text": text % values, "status_url": status_url}
    return _message(settings, language, "update", subject % values, to, context, message_id)


def _window(detail: str, zone: ZoneInfo, locale: str) -> str:
    """A pickup window the workflow sends as an ISO 8601 interval (start/end), as the shopper reads it."""
    start, _slash, end = detail.partition("/")
    try:
        return window(datetime.fromisoformat(start), datetime.fromisoformat(end), zone, locale=locale)
    except ValueError:
        return ""


def _message(
    settings: Settings, language: str, template: str, subject: str, to: str, context: dict, message_id: str
) -> EmailMessage:
    environment = TEMPLATES[language].env
    message = EmailMessage()
    message["From"] = settings.smtp_sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content(environment.get_template(f"email/{template}.txt").render(context))
    message.add_alternative(environment.get_template(f"email/{template}.html").render(context), subtype="html")
    return message
