"""The shopper's email from the portal: the return confirmed, with its status link (where the label,
the timeline and the cancel button are), as plain text and HTML, over SMTP (SMTP_* settings)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from jinja2 import Environment

from integrations.settings import Settings


def confirmation(
    settings: Settings, environment: Environment, subject: str, to: str, return_id: str, status_url: str
) -> EmailMessage:
    """The message, in the language `environment` (the portal's templates) and `subject` are in."""
    context = {"return_id": return_id, "status_url": status_url}
    message = EmailMessage()
    message["From"] = settings.smtp_sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="returns.local")
    message.set_content(environment.get_template("email/confirmed.txt").render(context))
    message.add_alternative(environment.get_template("email/confirmed.html").render(context), subtype="html")
    return message


async def send(settings: Settings, message: EmailMessage) -> None:
    """Sends over SMTP off the event loop (smtplib blocks)."""
    await asyncio.to_thread(_send_now, settings, message)


def _send_now(settings: Settings, message: EmailMessage) -> None:
    assert settings.smtp_host is not None
    connection = smtplib.SMTP_SSL if settings.smtp_tls == "tls" else smtplib.SMTP
    with connection(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds) as smtp:
        if settings.smtp_tls == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username and settings.smtp_password:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(message)
