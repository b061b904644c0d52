"""The return's own emails, on the time-skipping server with the production worker, an SMTP sink
(aiosmtpd) and the sandboxes: label ready, a reminder before the ship-by day (a durable timer),
received, refunded, each once, to the order's address, in the shopper's language, linking to the
portal's status page; a return shipped early gets no reminder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from devstack.checkout import DEMO_GRADES, SHOPPER_EMAIL
from devstack.ports import free_port
from integrations.settings import Settings
from portal.journey import pickup_windows
from portal.session import Signer
from sandboxes import smtp_sink
from tests.conftest import Sandboxes
from tests.integration.workflows.harness import Returns
from workflows.policy import Deadlines, ReturnPolicy
from workflows.vocabulary import Grade, ResolutionKind, ReturnMethod, Stage

POLICY = ReturnPolicy(
    version="test-emails",
    return_shipping_fee=599,
    deadlines=Deadlines(ship_by_days=14, ship_by_reminder_days=3),
)
PORTAL = "https://harness.shop.example"


@pytest.fixture(scope="module")
def mail_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mail")


@pytest.fixture(scope="module")
def smtp_port(mail_dir: Path) -> Iterator[int]:
    port = free_port()
    controller = smtp_sink.start("127.0.0.1", port, mail_dir)
    yield port
    controller.stop()


@pytest.fixture(scope="module")
def settings(sandboxes: Sandboxes, smtp_port: int) -> Settings:
    return sandboxes.settings(
        task_queue="returns-shopper-emails",
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_tls="none",
        portal_secret="test-portal-secret",
        portal_base_url=PORTAL,
    )


def _mail_of(mail_dir: Path, return_id: str) -> list[EmailMessage]:
    return [
        message for message in smtp_sink.read_mail(mail_dir) if return_id in message.get_body(("plain",)).get_content()
    ]


def _subjects(mail_dir: Path, return_id: str) -> list[str]:
    return [message["Subject"] for message in _mail_of(mail_dir, return_id)]


async def test_store_credit_a_booked_pickup_and_an_expired_return_are_each_told_once(
    harness: Returns, mail_dir: Path
) -> None:
    """First in the module: its pickup window is checked at the door against the wall clock, which
    the server's clock leaves behind as the module's tests skip time."""
    credited_client, credited = await harness.start(POLICY, resolution=ResolutionKind.store_credit)
    now = await harness.env.get_current_time()
    # a morning round (today's may be too close to offer, whatever the hour the suite runs)
    window = next(w for w in pickup_windows(now, now + timedelta(days=14), ZoneInfo("UTC")) if w.start.hour == 9)
    _, picked_up = await harness.start(POLICY, method=ReturnMethod.pickup, pickup=window)
    expiring_client, expiring = await harness.start(POLICY)

    await harness.deliver(credited_client, credited)
    await harness.receive(credited_client, credited)
    await harness.inspect(credited_client, credited, DEMO_GRADES)
    await harness.until(credited_client, credited, lambda status: status.stage is Stage.completed)
    await harness.until(credited_client, picked_up, lambda _: len(_mail_of(mail_dir, picked_up)) == 2)
    await harness.skip(15)  # past the ship-by deadline: the pickup missed too, and the return expires
    await harness.until(expiring_client, expiring, lambda status: status.stage is Stage.expired)
    await harness.until(expiring_client, expiring, lambda _: len(_mail_of(mail_dir, expiring)) == 3)

    credit = 2 * 2500 - 599  # the two shirts less the label (the mug graded C earns nothing; no bonus here)
    assert _subjects(mail_dir, credited)[-1] == f"You have ${credit / 100:.2f} in store credit"
    assert _subjects(mail_dir, expiring) == [
        "Your return label is ready",
        _subjects(mail_dir, expiring)[1],  # the reminder, dated
        f"Your return {expiring} expired",
    ]
    day = f"{window.start:%B} {window.start.day}, {window.start.year}"
    booked = _mail_of(mail_dir, picked_up)[1]
    assert booked["Subject"] == f"The carrier comes for your parcel on {day}"
    assert f"on {day}, 9:00\u202fAM – 12:00\u202fPM" in booked.get_body(("plain",)).get_content()
    assert "The carrier didn't collect your parcel" in _subjects(mail_dir, picked_up)


async def test_the_shopper_hears_label_reminder_arrival_and_refund_once_each(
    harness: Returns, mail_dir: Path, settings: Settings
) -> None:
    client, return_id = await harness.start(POLICY)
    await harness.until(client, return_id, lambda status: status.stage is Stage.label_issued)
    await harness.until(client, return_id, lambda _: len(_mail_of(mail_dir, return_id)) == 1)
    (label_ready,) = _mail_of(mail_dir, return_id)

    await harness.skip(12)  # the reminder is due 11 days after the label (14 less 3)
    await harness.until(client, return_id, lambda _: len(_mail_of(mail_dir, return_id)) == 2)
    await harness.skip(1)
    await harness.deliver(client, return_id)
    await harness.receive(client, return_id)
    await harness.inspect(client, return_id, DEMO_GRADES)
    final = await harness.finish(client, return_id)

    assert final.stage is Stage.completed and final.resolution is not None
    refunded = final.resolution.refund.amount if final.resolution.refund else None
    assert refunded == 2 * 2500 - 599
    assert _subjects(mail_dir, return_id) == [
        "Your return label is ready",
        f"Please send your return by {(final.timeline[0].at + timedelta(days=14)):%B} "
        f"{(final.timeline[0].at + timedelta(days=14)).day}, {(final.timeline[0].at + timedelta(days=14)).year}",
        "We have your returned items",
        "We refunded $44.01",
    ]
    messages = _mail_of(mail_dir, return_id)
    assert {message["To"] for message in messages} == {SHOPPER_EMAIL}  # the order's address, from the shop
    assert len({message["Message-ID"] for message in messages}) == 4
    text = label_ready.get_body(("plain",)).get_content()
    link = next(line for line in text.splitlines() if line.startswith(PORTAL))
    token = link.removeprefix(f"{PORTAL}/portal/returns/")
    assert Signer.from_settings(settings).return_of(token) == return_id  # opens in the portal
    assert "$44.01" in messages[-1].get_body(("html",)).get_content()


async def test_a_parcel_sent_early_gets_no_reminder_and_german_email_in_german(
    harness: Returns, mail_dir: Path
) -> None:
    client, return_id = await harness.start(POLICY, language="de")
    await harness.ship(client, return_id)
    await harness.skip(13)
    await harness.until(client, return_id, lambda status: status.stage is Stage.in_transit)
    assert _subjects(mail_dir, return_id) == ["Ihr Rücksendeetikett ist bereit"]
    await harness.deliver(client, return_id)
    await harness.receive(client, return_id)
    await harness.inspect(client, return_id, {"L1": Grade.a, "L2": Grade.a})
    await harness.finish(client, return_id)
    assert _subjects(mail_dir, return_id) == [
        "Ihr Rücksendeetikett ist bereit",
        "Ihre zurückgesandten Artikel sind bei uns",
        "Wir haben 56,01\xa0$ erstattet",  # both lines accepted: 50.00 + 12.00 less the 5.99 label
    ]
