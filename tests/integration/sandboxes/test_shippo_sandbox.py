"""The Shippo sandbox, driven through the official `shippo` SDK and held to Shippo's OpenAPI description.

Every request the SDK sends in these tests, and every answer it gets, is recorded and checked
against the published spec when the test ends (see the `recorder` fixture).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
import requests
import shippo
from shippo.models import components, errors, operations

from sandboxes.server import serve_in_thread
from sandboxes.shippo_contract import ContractViolation, shippo_contract
from sandboxes.shippo_sandbox import create_app

TOKEN = "shippo_test_0123456789abcdef"
WAREHOUSE = components.AddressCreateRequest(
    name="Returns Dept", street1="215 Clayton St.", city="San Francisco", state="CA", zip="94117", country="US"
)
CUSTOMER = components.AddressCreateRequest(
    name="Ada Customer", street1="965 Mission St", city="San Francisco", state="CA", zip="94103", country="US"
)
PARCEL = components.ParcelCreateRequest(
    length="10",
    width="8",
    height="4",
    distance_unit=components.DistanceUnitEnum.IN,
    weight="2",
    mass_unit=components.WeightUnitEnum.LB,
)
# Answers the spec does not document, but which a client must still be ready for.
UNDOCUMENTED_STATUSES = {401: "bad token", 500: "injected fault"}


class RecordingSession(requests.Session):
    """A requests session keeping every response (and, through it, the request) the SDK exchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[requests.Response] = []

    def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:  # type: ignore[override]
        response = super().send(request, **kwargs)
        self.exchanges.append(response)
        return response


def assert_follows_spec(exchanges: list[requests.Response]) -> None:
    contract = shippo_contract()
    for response in exchanges:
        request = response.request
        assert request.method and request.url
        contract.validate_request(request.method, request.url, request.headers, request.body)
        if response.status_code in UNDOCUMENTED_STATUSES:
            with pytest.raises(ContractViolation, match="Unknown response http status"):
                contract.validate_response(
                    request.method, request.url, response.status_code, response.headers, response.content
                )
            assert isinstance(response.json(), dict)
        else:
            contract.validate_response(
                request.method, request.url, response.status_code, response.headers, response.content
            )


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with serve_in_thread(create_app()) as base_url:
        yield base_url


@pytest.fixture
def admin(sandbox: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox) as client:
        client.delete("/_sandbox/faults").raise_for_status()
        yield client


@pytest.fixture
def recorder() -> Iterator[RecordingSession]:
    session = RecordingSession()
    yield session
    assert_follows_spec(session.exchanges)


@pytest.fixture
def sdk(sandbox: str, recorder: RecordingSession) -> shippo.Shippo:
    return shippo.Shippo(api_key_header=TOKEN, server_url=sandbox, client=recorder)


def new_return_id() -> str:
    return f"ret_{uuid.uuid4().hex[:12]}"


def return_shipment(sdk: shippo.Shippo, return_id: str, *, qr_code: bool = False) -> components.Shipment:
    return sdk.shipments.create(
        components.ShipmentCreateRequest(
            address_from=CUSTOMER,
            address_to=WAREHOUSE,
            parcels=[PARCEL],
            extra=components.ShipmentExtra(is_return=True, qr_code_requested=qr_code),
            metadata=return_id,
        )
    )


def buy_label(sdk: shippo.Shippo, return_id: str, **options: object) -> components.Transaction:
    shipment = return_shipment(sdk, return_id)
    return sdk.transactions.create(
        components.TransactionCreateRequest(rate=shipment.rates[0].object_id, metadata=return_id, **options)
    )


def all_labels(sdk: shippo.Shippo, **filters: object) -> list[components.Transaction]:
    labels: list[components.Transaction] = []
    page = 1
    while True:
        listing = sdk.transactions.list(operations.ListTransactionsRequest(page=page, results=3, **filters))
        labels += listing.results or []
        if not listing.next:
            return labels
        page += 1


def test_return_shipment_has_rates(sdk: shippo.Shippo) -> None:
    return_id = new_return_id()
    shipment = return_shipment(sdk, return_id)

    assert shipment.status == components.ShipmentStatus.SUCCESS
    assert shipment.extra and shipment.extra.is_return is True
    assert shipment.metadata == return_id
    assert shipment.address_to.zip == "94117"
    assert len(shipment.rates) >= 2
    for rate in shipment.rates:
        assert rate.shipment == shipment.object_id
        assert float(rate.amount) > 0 and rate.currency == "USD"
    assert sdk.shipments.get(shipment.object_id).object_id == shipment.object_id


def test_synchronous_purchase_returns_a_finished_label(sdk: shippo.Shippo) -> None:
    return_id = new_return_id()
    shipment = return_shipment(sdk, return_id, qr_code=True)
    rate = shipment.rates[0]

    label = sdk.transactions.create(
        components.TransactionCreateRequest(rate=rate.object_id, async_=False, metadata=f"return {return_id}")
    )

    assert label.status == components.TransactionStatusEnum.SUCCESS
    assert label.object_state == components.ObjectStateEnum.VALID
    assert label.label_url and label.label_url.endswith(f"/labels/{label.object_id}.pdf")
    assert label.tracking_number and label.tracking_url_provider
    assert label.qr_code_url
    assert label.metadata == f"return {return_id}"
    assert label.rate == rate.object_id
    assert label.created_by is None
    assert label.tracking_status == components.TrackingStatusEnum.PRE_TRANSIT


def test_label_url_serves_a_pdf(sdk: shippo.Shippo) -> None:
    label = buy_label(sdk, new_return_id(), async_=False)
    assert label.label_url

    download = httpx.get(label.label_url)

    assert download.status_code == 200
    assert download.headers["content-type"] == "application/pdf"
    assert download.content.startswith(b"%PDF-") and download.content.rstrip().endswith(b"%%EOF")


def test_purchase_is_queued_by_default_then_succeeds(sdk: shippo.Shippo) -> None:
    label = buy_label(sdk, new_return_id())

    assert label.status == components.TransactionStatusEnum.QUEUED
    assert not label.label_url and not label.tracking_number

    finished = sdk.transactions.get(label.object_id)
    assert finished.status == components.TransactionStatusEnum.SUCCESS
    assert finished.label_url and finished.tracking_number


def test_instant_purchase_without_a_rate(sdk: shippo.Shippo) -> None:
    return_id = new_return_id()
    label = sdk.transactions.create(
        components.InstantTransactionCreateRequest(
            shipment=components.ShipmentCreateRequest(
                address_from=CUSTOMER,
                address_to=WAREHOUSE,
                parcels=[PARCEL],
                extra=components.ShipmentExtra(is_return=True),
            ),
            carrier_account="b741b99f95e841639b54272834bc478c",
            servicelevel_token="usps_priority",
            metadata=return_id,
        )
    )

    assert label.status == components.TransactionStatusEnum.SUCCESS
    assert isinstance(label.rate, components.CoreRate)
    assert label.rate.servicelevel_token == "usps_priority"
    assert label.metadata == return_id and label.tracking_number


def test_listing_finds_the_label_carrying_a_return_id(sdk: shippo.Shippo) -> None:
    return_id = new_return_id()
    wanted = buy_label(sdk, return_id, async_=False)
    buy_label(sdk, new_return_id(), async_=False)

    matches = [label for label in all_labels(sdk) if label.metadata == return_id]

    assert [label.object_id for label in matches] == [wanted.object_id]
    successful = all_labels(sdk, object_status=components.TransactionStatusEnum.SUCCESS)
    assert wanted.object_id in {label.object_id for label in successful}


def test_buying_a_rate_twice_buys_two_labels(sdk: shippo.Shippo, admin: httpx.Client) -> None:
    shipment = return_shipment(sdk, new_return_id())
    request = components.TransactionCreateRequest(rate=shipment.rates[0].object_id, async_=False)

    first = sdk.transactions.create(request)
    second = sdk.transactions.create(request)

    assert first.object_id != second.object_id
    assert first.tracking_number != second.tracking_number
    by_rate = all_labels(sdk, rate=shipment.rates[0].object_id)
    assert {label.object_id for label in by_rate} == {first.object_id, second.object_id}
    admin_view = {label["object_id"] for label in admin.get("/_sandbox/transactions").json()}
    assert {first.object_id, second.object_id} <= admin_view


def test_tracking_follows_injected_events(sdk: shippo.Shippo, admin: httpx.Client) -> None:
    label = buy_label(sdk, new_return_id(), async_=False)
    assert label.tracking_number

    track = sdk.tracking_status.create("usps", label.tracking_number, metadata="return tracking")
    assert track.tracking_status and track.tracking_status.status == components.TrackingStatusEnum.PRE_TRANSIT
    assert track.metadata == "return tracking" and track.transaction == label.object_id

    for status in ("TRANSIT", "DELIVERED"):
        event = {"status": status, "substatus": "package_accepted" if status == "TRANSIT" else None}
        admin.post(f"/_sandbox/tracks/{label.tracking_number}/events", json=event).raise_for_status()

    track = sdk.tracking_status.get(label.tracking_number, "usps")
    assert track.tracking_status and track.tracking_status.status == components.TrackingStatusEnum.DELIVERED
    assert [event.status.value for event in track.tracking_history] == ["PRE_TRANSIT", "TRANSIT", "DELIVERED"]
    assert track.tracking_history[1].substatus and track.tracking_history[1].substatus.code == "package_accepted"
    assert sdk.transactions.get(label.object_id).tracking_status == components.TrackingStatusEnum.DELIVERED
    delivered = all_labels(sdk, tracking_status=components.TrackingStatusEnum.DELIVERED)
    assert label.object_id in {delivered_label.object_id for delivered_label in delivered}


def test_events_for_an_unknown_tracking_number_are_refused(admin: httpx.Client) -> None:
    answer = admin.post("/_sandbox/tracks/NO_SUCH_NUMBER/events", json={"status": "TRANSIT"})
    assert answer.status_code == 404


def test_voiding_a_label(sdk: shippo.Shippo, admin: httpx.Client) -> None:
    label = buy_label(sdk, new_return_id(), async_=False)

    refund = sdk.refunds.create(transaction=label.object_id)
    assert refund.status == components.RefundStatus.QUEUED
    assert refund.transaction == label.object_id

    assert sdk.refunds.get(refund.object_id).status == components.RefundStatus.SUCCESS
    assert sdk.transactions.get(label.object_id).status == components.TransactionStatusEnum.REFUNDED
    listed = sdk.refunds.list().results or []
    assert refund.object_id in {listed_refund.object_id for listed_refund in listed}
    assert refund.object_id in {r["object_id"] for r in admin.get("/_sandbox/refunds").json()}

    with pytest.raises(errors.SDKError) as refused:
        sdk.refunds.create(transaction=label.object_id, async_=False)
    assert refused.value.status_code == 400
    assert "transaction" in json.loads(refused.value.body)


def test_synchronous_void_succeeds_at_once(sdk: shippo.Shippo) -> None:
    label = buy_label(sdk, new_return_id(), async_=False)

    refund = sdk.refunds.create(transaction=label.object_id, async_=False)

    assert refund.status == components.RefundStatus.SUCCESS
    assert sdk.transactions.get(label.object_id).status == components.TransactionStatusEnum.REFUNDED


def test_voiding_an_unknown_label_is_a_bad_request(sdk: shippo.Shippo) -> None:
    with pytest.raises(errors.SDKError) as refused:
        sdk.refunds.create(transaction=uuid.uuid4().hex)
    assert refused.value.status_code == 400


@pytest.mark.parametrize("token", ["not-a-shippo-token", "shippo_bogus_0123"])
def test_bad_token_is_unauthorized(sandbox: str, recorder: RecordingSession, token: str) -> None:
    client = shippo.Shippo(api_key_header=token, server_url=sandbox, client=recorder)

    with pytest.raises(errors.SDKError) as refused:
        client.shipments.get(uuid.uuid4().hex)

    assert refused.value.status_code == 401


def test_injected_fault_then_success(sdk: shippo.Shippo, admin: httpx.Client) -> None:
    fault = {"method": "POST", "path": "/shipments", "status": 500, "times": 1}
    admin.post("/_sandbox/faults", json=fault).raise_for_status()

    with pytest.raises(errors.SDKError) as failed:
        return_shipment(sdk, new_return_id())
    assert failed.value.status_code == 500

    assert return_shipment(sdk, new_return_id()).status == components.ShipmentStatus.SUCCESS


def test_shipment_without_parcels_is_a_bad_request(sdk: shippo.Shippo) -> None:
    with pytest.raises(errors.SDKError) as refused:
        sdk.shipments.create(components.ShipmentCreateRequest(address_from=CUSTOMER, address_to=WAREHOUSE, parcels=[]))

    assert refused.value.status_code == 400
    assert "parcels" in json.loads(refused.value.body)


def test_shipment_without_an_address_is_a_shippo_400_not_a_422(sandbox: str) -> None:
    # The SDK cannot even build this body, so it is sent by hand.
    answer = httpx.post(
        f"{sandbox}/shipments",
        headers={"Authorization": f"ShippoToken {TOKEN}"},
        json={"address_from": CUSTOMER.to_dict(), "parcels": [PARCEL.to_dict()]},
    )

    assert answer.status_code == 400
    assert answer.json() == {"address_to": ["This field is required."]}


def test_reset_forgets_everything() -> None:
    # Its own sandbox, so that the shared one keeps the other tests' objects.
    with serve_in_thread(create_app()) as base_url, httpx.Client(base_url=base_url) as own_admin:
        own_sdk = shippo.Shippo(api_key_header=TOKEN, server_url=base_url, client=requests.Session())
        label = buy_label(own_sdk, new_return_id(), async_=False)
        assert len(own_admin.get("/_sandbox/transactions").json()) == 1

        own_admin.post("/_sandbox/reset").raise_for_status()

        assert own_admin.get("/_sandbox/transactions").json() == []
        with pytest.raises(errors.SDKError):
            own_sdk.transactions.get(label.object_id)


# --- the contract itself


def test_a_whole_return_follows_the_spec(sdk: shippo.Shippo, recorder: RecordingSession, admin: httpx.Client) -> None:
    return_id = new_return_id()
    shipment = return_shipment(sdk, return_id, qr_code=True)
    sdk.shipments.get(shipment.object_id)
    purchase = components.TransactionCreateRequest(rate=shipment.rates[0].object_id, metadata=return_id)
    label = sdk.transactions.create(purchase)
    label = sdk.transactions.get(label.object_id)
    assert label.tracking_number
    all_labels(sdk, object_status=components.TransactionStatusEnum.SUCCESS)
    sdk.tracking_status.create("usps", label.tracking_number, metadata=return_id)
    admin.post(f"/_sandbox/tracks/{label.tracking_number}/events", json={"status": "TRANSIT"}).raise_for_status()
    sdk.tracking_status.get(label.tracking_number, "usps")
    refund = sdk.refunds.create(transaction=label.object_id)
    sdk.refunds.get(refund.object_id)
    sdk.refunds.list()
    with pytest.raises(errors.SDKError):
        sdk.refunds.create(transaction=label.object_id)

    assert_follows_spec(recorder.exchanges)
    operations_seen = {(r.request.method, r.status_code) for r in recorder.exchanges}
    assert {("POST", 201), ("GET", 200), ("POST", 200), ("POST", 400)} <= operations_seen


def test_contract_rejects_a_shipment_without_address_to() -> None:
    body = {"address_from": CUSTOMER.to_dict(), "parcels": [PARCEL.to_dict()]}
    headers = {"Authorization": f"ShippoToken {TOKEN}", "Content-Type": "application/json"}

    with pytest.raises(ContractViolation, match="'address_to' is a required property"):
        shippo_contract().validate_request("POST", "http://127.0.0.1:9/shipments", headers, json.dumps(body))


def test_contract_rejects_a_201_from_tracks() -> None:
    # Shippo answers POST /tracks with 200, unlike every other create.
    with pytest.raises(ContractViolation, match="Unknown response http status: 201"):
        shippo_contract().validate_response(
            "POST", "http://127.0.0.1:9/tracks", 201, {"Content-Type": "application/json"}, b"{}"
        )
