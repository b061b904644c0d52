"""ShippoLabels against the Shippo sandbox, every exchange held to Shippo's published OpenAPI description.

The recording wraps the session ShippoLabels gives the SDK, so it sees exactly what goes on
the wire: each request the SDK sends is checked against the spec, and so is each answer
(the sandbox's side of the contract).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests

from activities.models import PickupWindow
from integrations import shippo_labels
from integrations.errors import IntegrationError
from integrations.shippo_labels import ShippoLabels
from portal.journey import pickup_windows
from sandboxes.shippo_contract import shippo_contract
from tests.integration.integrations.shippo_requests import CUSTOMER, buy_label, label_request, labels_bought_for
from workflows.contract import PICKUP_REFUSED, label_metadata

if TYPE_CHECKING:
    from tests.conftest import Sandboxes


@pytest.fixture
def exchanges(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[requests.Response]]:
    """Every response (and through it, its request) the SDK got; checked against the spec at the end."""
    recorded: list[requests.Response] = []
    send = shippo_labels._TimeoutSession.send

    def recording(session: requests.Session, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:
        response = send(session, request, **kwargs)  # type: ignore[arg-type]
        recorded.append(response)
        return response

    monkeypatch.setattr(shippo_labels._TimeoutSession, "send", recording)
    yield recorded
    contract = shippo_contract()
    for response in recorded:
        request = response.request
        assert request.method and request.url
        contract.validate_request(request.method, request.url, request.headers, request.body)
        contract.validate_response(
            request.method, request.url, response.status_code, response.headers, response.content
        )


@pytest.fixture
def labels(sandboxes: Sandboxes) -> ShippoLabels:
    return ShippoLabels(sandboxes.settings())


def sent(response: requests.Response) -> dict:
    body = response.request.body
    assert isinstance(body, bytes | str)
    return json.loads(body)


def calls(exchanges: list[requests.Response]) -> list[tuple[str, str, int]]:
    return [(r.request.method or "", urlsplit(r.request.url).path, r.status_code) for r in exchanges]


async def test_buy_a_return_label(labels: ShippoLabels, exchanges: list[requests.Response]) -> None:
    label = await buy_label(labels, label_request(), look_for_earlier_purchase=False)
    assert label.label_url and label.label_url.endswith(".pdf")
    assert label.qr_code_url is None
    assert (label.carrier, len(label.tracking_number)) == ("usps", 22)  # the token tracking wants
    assert calls(exchanges) == [("POST", "/shipments", 201), ("POST", "/transactions", 201)]
    assert sent(exchanges[0])["extra"] == {"is_return": True}


async def test_buy_a_return_label_with_a_qr_code(labels: ShippoLabels, exchanges: list[requests.Response]) -> None:
    label = await buy_label(labels, label_request(qr_code=True), look_for_earlier_purchase=False)
    assert label.qr_code_url and label.qr_code_url.endswith("/qr.png")
    assert sent(exchanges[0])["extra"] == {"is_return": True, "qr_code_requested": True}


async def test_look_before_buy_finds_the_earlier_label(
    sandboxes: Sandboxes, labels: ShippoLabels, exchanges: list[requests.Response]
) -> None:
    request = label_request()
    bought = await buy_label(labels, request, look_for_earlier_purchase=False)
    found = await buy_label(labels, request, look_for_earlier_purchase=True)
    assert found.transaction_id == bought.transaction_id
    assert (found.label_url, found.tracking_number, found.carrier) == (
        bought.label_url,
        bought.tracking_number,
        bought.carrier,
    )
    # shipment, purchase; then the look: list the labels, read the found label's rate for its carrier
    assert [method for method, _, _ in calls(exchanges)] == ["POST", "POST", "GET", "GET"]
    assert len(labels_bought_for(sandboxes, request.return_id)) == 1


async def test_void_a_label_twice(labels: ShippoLabels, exchanges: list[requests.Response]) -> None:
    label = await buy_label(labels, label_request(), look_for_earlier_purchase=False)
    receipt = await labels.void_label(label.transaction_id)
    assert receipt.status == "SUCCESS"
    # Shippo refuses a second void with a 400; the label's refund shows it is done already.
    assert await labels.void_label(label.transaction_id) == receipt
    assert calls(exchanges)[2:] == [("POST", "/refunds", 201), ("POST", "/refunds", 400), ("GET", "/refunds/", 200)]


async def test_register_tracking(labels: ShippoLabels, exchanges: list[requests.Response]) -> None:
    label = await buy_label(labels, label_request(), look_for_earlier_purchase=False)
    await labels.register_tracking("usps", label.tracking_number, metadata=label_metadata("R-track"))
    track = exchanges[-1]
    assert calls([track]) == [("POST", "/tracks", 200)]
    assert track.json()["metadata"] == "return:R-track"


# --- carrier pickups (Shippo books them; it neither lists nor cancels them)


def next_window(**changes: object) -> PickupWindow:
    """The first carrier round a shopper would be offered today (never a Sunday, never too soon)."""
    now = datetime.now(UTC)
    window = pickup_windows(now, now + timedelta(days=14), ZoneInfo("UTC"))[0]
    return window.model_copy(update=changes)


async def test_book_a_pickup_for_a_label(
    sandboxes: Sandboxes, labels: ShippoLabels, exchanges: list[requests.Response]
) -> None:
    label = await buy_label(labels, label_request(), look_for_earlier_purchase=False)
    window = next_window()

    pickup = await labels.book_pickup(
        label.transaction_id, label.carrier_account, CUSTOMER, window, metadata=label_metadata("R-pickup")
    )

    assert (pickup.start, pickup.end, pickup.cancel_by) == (window.start, window.end, window.start - timedelta(hours=1))
    assert pickup.confirmation_code and pickup.confirmation_code.startswith("WTC")
    assert calls(exchanges)[-1] == ("POST", "/pickups", 201)
    asked = sent(exchanges[-1])
    assert asked["transactions"] == [label.transaction_id]
    assert asked["carrier_account"] == label.carrier_account
    assert asked["location"]["building_location_type"] == "Front Door"
    assert asked["location"]["address"]["street1"] == CUSTOMER.street1
    booked = [p for p in sandboxes.admin("shippo", "/_sandbox/pickups") if p["object_id"] == pickup.pickup_id]
    assert [p["metadata"] for p in booked] == ["return:R-pickup"]


async def test_a_label_without_its_carrier_account_finds_it_first(
    labels: ShippoLabels, exchanges: list[requests.Response]
) -> None:
    """Labels bought before they carried their account: the account is read from the label's rate."""
    label = await buy_label(labels, label_request(), look_for_earlier_purchase=False)
    window = next_window(instructions="Behind the side gate")

    await labels.book_pickup(label.transaction_id, None, CUSTOMER, window, metadata=label_metadata("R-old"))

    paths = calls(exchanges)[2:]
    assert [(method, status) for method, _, status in paths] == [("GET", 200), ("GET", 200), ("POST", 201)]
    assert paths[0][1] == f"/transactions/{label.transaction_id}"
    assert sent(exchanges[-1])["carrier_account"] == label.carrier_account
    assert sent(exchanges[-1])["location"] | {"address": None} == {
        "address": None,
        "building_location_type": "Other",
        "instructions": "Behind the side gate",
    }


@pytest.mark.parametrize("why", ["sunday", "voided label"])
async def test_a_pickup_the_carrier_refuses_is_not_retried(
    labels: ShippoLabels, exchanges: list[requests.Response], why: str
) -> None:
    label = await buy_label(labels, label_request(), look_for_earlier_purchase=False)
    window = next_window()
    if why == "sunday":
        days_to_sunday = (6 - window.start.weekday()) % 7
        window = window.model_copy(
            update={"start": window.start + timedelta(days_to_sunday), "end": window.end + timedelta(days_to_sunday)}
        )
    else:
        await labels.void_label(label.transaction_id)

    with pytest.raises(IntegrationError) as refused:
        await labels.book_pickup(label.transaction_id, label.carrier_account, CUSTOMER, window, metadata="return:R-no")

    assert (refused.value.code, refused.value.retryable) == (PICKUP_REFUSED, False)
    assert ("Sundays" if why == "sunday" else "only SUCCESS labels") in refused.value.message
    assert calls(exchanges)[-1] == ("POST", "/pickups", 400)
