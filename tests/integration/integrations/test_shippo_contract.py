"""ShippoLabels against the Shippo sandbox, every exchange held to Shippo's published OpenAPI description.

The recording wraps the session ShippoLabels gives the SDK, so it sees exactly what goes on
the wire: each request the SDK sends is checked against the spec, and so is each answer
(the sandbox's side of the contract).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import requests

from integrations import shippo_labels
from integrations.shippo_labels import ShippoLabels
from sandboxes.shippo_contract import shippo_contract
from tests.integration.integrations.shippo_requests import buy_label, label_request, labels_bought_for
from workflows.contract import label_metadata

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
