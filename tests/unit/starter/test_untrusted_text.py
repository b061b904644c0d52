"""Text from outside is checked at the door, shown escaped, and never breaks replay of what came before.

The doors are ReturnsClient's methods: these tests give it no Temporal connection at all, so a
refusal here is one that happened before anything was sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from devstack.checkout import demo_request
from integrations.settings import Settings
from integrations.temporal_client import RETURNS_DATA_CONVERTER
from starter.client import ReturnsClient, plain_text
from starter.errors import InvalidReturnInput
from starter.returnsctl import _print_status, shown
from workflows.models import (
    Cancellation,
    CarrierScan,
    DeadlineExtension,
    DispositionConfirmation,
    DispositionOverride,
    InspectionReport,
    LineInspection,
    OperatorAction,
    ParcelReceipt,
    PaymentUpdate,
    ReceivedLine,
    ReturnStatus,
    TimelineEntry,
)
from workflows.vocabulary import Grade, ReturnMethod, Stage

FORGED = "ok\n  2026-01-01 00:00:00  completed     operator:kim         refund approved"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def door() -> ReturnsClient:
    return ReturnsClient(None, Settings())  # type: ignore[arg-type]  # no Temporal: nothing may be sent


def _inspection(**line: Any) -> InspectionReport:
    return InspectionReport(inspector="warehouse:dock-1", lines=[LineInspection(line_id="L1", grade=Grade.a, **line)])


# (client method, its message, the field the refusal names)
REFUSED = [
    ("approve", OperatorAction(actor="operator:kim", reason=FORGED), "reason"),
    ("reject", OperatorAction(actor="operator:kim", reason="a\rb"), "reason"),
    ("retry", OperatorAction(actor="operator:kim\n", reason="r"), "actor"),
    ("cancel", Cancellation(actor="storefront:shop-web", reason="\x1b[31mred", requested_by="shopper"), "reason"),
    (
        "override_disposition",
        DispositionOverride(actor="o:k", reason="\u202eevil", line_id="L1", disposition="recycle"),
        "reason",
    ),
    ("extend_deadline", DeadlineExtension(actor="o:k", reason="x\u2028y", deadline="ship_by", days=1), "reason"),
    (
        "record_receipt",
        ParcelReceipt(receipt_id="P\n1", received_by="w:d", lines=[ReceivedLine(line_id="L1", quantity=1)]),
        "receipt_id",
    ),
    ("record_inspection", _inspection(notes=FORGED), "lines.0.notes"),
    ("record_inspection", _inspection(photo_urls=["javascript:alert(1)"]), "lines.0.photo_urls.0"),
    ("record_inspection", _inspection(photo_urls=["https://img.example/" + "a" * 2048]), "lines.0.photo_urls.0"),
    ("confirm_disposition", DispositionConfirmation(line_id="L1", confirmed_by="warehouse:\tdock"), "confirmed_by"),
    ("record_carrier_scan", CarrierScan(event_id="e", status="TRANSIT", occurred_at=NOW, location=FORGED), "location"),
    (
        "record_carrier_scan",
        CarrierScan(event_id="e", status="TRANSIT", occurred_at=NOW, substatus="s" * 129),
        "substatus",
    ),
    (
        "record_payment_update",
        PaymentUpdate(refund_id="re_1", status="failed", failure_reason=FORGED),
        "failure_reason",
    ),
]


@pytest.mark.parametrize(("method", "message", "field"), REFUSED, ids=[f"{m}-{f}" for m, _, f in REFUSED])
async def test_every_door_refuses_text_that_could_forge_a_line(
    door: ReturnsClient, method: str, message: Any, field: str
) -> None:
    with pytest.raises(InvalidReturnInput) as refused:
        await getattr(door, method)("R-1", message)
    assert field in [name for name, _ in refused.value.problems]


@pytest.mark.parametrize("field", ["name", "street1", "street2", "city", "state", "zip", "email", "phone"])
async def test_a_start_with_a_control_character_in_an_address_is_refused(door: ReturnsClient, field: str) -> None:
    request = demo_request("R-1", "pi_1")
    address = request.customer_address.model_copy(update={field: "x\r\nInjected: yes"})
    with pytest.raises(InvalidReturnInput) as refused:
        await door.start(request.model_copy(update={"customer_address": address}))
    assert refused.value.problems[0][0] == f"customer_address.{field}"


async def test_sku_and_long_unbounded_fields_are_refused_at_the_door(door: ReturnsClient) -> None:
    request = demo_request("R-1", "pi_1")
    line = request.lines[0].model_copy(update={"sku": "SKU\x00"})
    address = request.customer_address.model_copy(update={"email": "a" * 255})
    with pytest.raises(InvalidReturnInput) as refused:
        await door.start(request.model_copy(update={"lines": [line], "customer_address": address}))
    assert {name for name, _ in refused.value.problems} == {"lines.0.sku", "customer_address.email"}


def test_what_a_running_return_s_history_holds_still_reads_back() -> None:
    """Replay reads payloads without the door's context: text accepted before these limits still replays."""
    recorded = OperatorAction(actor="operator:kim", reason="multi\nline, from before the limits")
    payload = RETURNS_DATA_CONVERTER.payload_converter.to_payloads([recorded])[0]
    assert RETURNS_DATA_CONVERTER.payload_converter.from_payload(payload, OperatorAction) == recorded
    scan = CarrierScan(event_id="e", status="TRANSIT", occurred_at=NOW, location="x" * 1000)
    payload = RETURNS_DATA_CONVERTER.payload_converter.to_payloads([scan])[0]
    assert RETURNS_DATA_CONVERTER.payload_converter.from_payload(payload, CarrierScan) == scan


def test_vendor_text_is_made_plain_not_refused() -> None:
    """A carrier's or Stripe's text can't be sent again: it is cleaned and cut instead."""
    assert (
        plain_text("Oakland\n2026-01-01  completed  operator:kim", 200) == "Oakland 2026-01-01 completed operator:kim"
    )
    assert plain_text("\x1b[2Jx" + "y" * 300, 10) == "[2Jxyyyyyy"
    assert plain_text("\n\t", 10) is None and plain_text(None, 10) is None


# --- returnsctl show ------------------------------------------------------------------------


def test_shown_escapes_what_a_terminal_would_obey() -> None:
    assert shown("a\nb\r\x1b[2J\u202e\u2028é") == "a\\nb\\r\\x1b[2J\\u202e\\u2028é"


def test_show_prints_one_line_per_timeline_entry_whatever_the_text(capsys: pytest.CaptureFixture[str]) -> None:
    entries = [
        TimelineEntry(at=NOW, stage=Stage.requested, actor="shop", detail="return requested"),
        TimelineEntry(at=NOW, stage=Stage.requested, actor="storefront:shop-web for ada", detail=f"cancel: {FORGED}"),
    ]
    status = ReturnStatus(
        return_id="R-1",
        order_id="O-1",
        customer_id="C-1",
        stage=Stage.requested,
        method=ReturnMethod.mail_label,
        currency="USD",
        lines=[],
        policy_version="v1",
        timeline=entries,
    )
    _print_status(status)
    timeline = capsys.readouterr().out.split("Timeline:\n", 1)[1].splitlines()
    assert len(timeline) == 2
    assert "refund approved" in timeline[1] and "\\n" in timeline[1]


# --- vendors' test events on a live system ---------------------------------------------------------


async def test_a_test_tracking_event_never_moves_a_live_return() -> None:
    from integrations.shippo_webhooks import parse_track_updated

    live = ReturnsClient(None, Settings(live_mode=True))  # type: ignore[arg-type]
    body = {
        "event": "track_updated",
        "test": True,
        "data": {
            "tracking_number": "9400",
            "metadata": "return:R-1",
            "tracking_status": {"status": "DELIVERED", "status_date": "2026-01-01T00:00:00Z"},
        },
    }
    update = parse_track_updated(body)
    assert update is not None
    assert (await live.deliver_track_update(update)).outcome == "ignored"


async def test_a_test_mode_stripe_event_never_moves_a_live_return() -> None:
    from integrations.stripe_payments import StripeRefund
    from integrations.stripe_webhooks import StripeRefundEvent

    live = ReturnsClient(None, Settings(live_mode=True))  # type: ignore[arg-type]
    refund = StripeRefund(
        "re_1", 100, "USD", "failed", None, {"return_id": "R-1", "idempotency_key": "return:R-1:refund:1"}
    )
    event = StripeRefundEvent("evt_1", "refund.failed", refund, live=False)
    assert (await live.deliver_refund_event(event)).outcome == "ignored"


@pytest.mark.parametrize(
    ("settings", "live"),
    [
        ({}, False),
        ({"stripe_api_key": "sk_test_x"}, False),
        ({"stripe_api_key": "sk_live_x"}, True),
        ({"shippo_api_token": "shippo_live_x"}, True),
        ({"stripe_api_key": "sk_live_x", "live_mode": False}, False),
        ({"live_mode": True}, True),
    ],
)
def test_a_deployment_is_live_as_its_keys_say_unless_told(settings: dict[str, Any], live: bool) -> None:
    assert Settings(**settings).live is live
