"""Email over SMTP (the SMTP_* settings): the shopper's messages, from the portal and the return's
workflow. SMTP has no idempotency key: a message may be sent twice when an attempt fails after the
server took it; each carries a Message-ID derived from what it says, so mail clients can fold repeats."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage

from integrations.errors import IntegrationError
from integrations.settings import Settings

VENDOR = "smtp"


def mail_configured(settings: Settings) -> bool:
    return settings.smtp_host is not None


async def send(settings: Settings, message: EmailMessage) -> None:
    """Sends over SMTP off the event loop (smtplib blocks); a classified IntegrationError when it can't."""
    try:
        await asyncio.to_thread(_send_now, settings, message)
    except smtplib.SMTPRecipientsRefused as error:
        raise IntegrationError(VENDOR, "recipient_refused", str(error), retryable=False) from error
    except (OSError, smtplib.SMTPException) as error:
        raise IntegrationError(VENDOR, "unavailable", f"{type(error).__name__}: {error}", retryable=True) from error


def _send_now(settings: Settings, message: EmailMessage) -> None:
    assert settings.smtp_host is not None
    connection = smtplib.SMTP_SSL if settings.smtp_tls == "tls" else smtplib.SMTP
    with connection(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds) as smtp:
        if settings.smtp_tls == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username and settings.smtp_password:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(message)
