"""A local SMTP server (aiosmtpd) that keeps every message it is sent as a file, `<mail dir>/<n>.eml`:
the shopper's email, for the local stack and the tests to read back. It delivers nothing further."""

from __future__ import annotations

import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class MailDrop:
    def __init__(self, directory: Path):
        self._directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        (self._directory / f"{time.time_ns()}.eml").write_bytes(content)
        return "250 Message accepted for delivery"


def start(host: str, port: int, directory: Path) -> Controller:
    """Listens on host:port in a thread of its own; `.stop()` the answer to end it."""
    controller = Controller(MailDrop(directory), hostname=host, port=port)
    controller.start()
    return controller


def read_mail(directory: Path) -> list[EmailMessage]:
    """The messages received so far, oldest first."""
    parser = BytesParser(policy=policy.default)
    return [parser.parsebytes(path.read_bytes()) for path in sorted(directory.glob("*.eml"))]  # type: ignore[misc]
