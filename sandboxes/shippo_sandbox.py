"""A stateful local stand-in for the Shippo API (version 2018-02-08).

It is the embedded default when no SHIPPO_API_TOKEN is set, and the official `shippo`
SDK works against it unchanged. It covers what the project uses: shipments with rates,
label purchase (transactions, both the rate and the instant form), label downloads,
tracking, label voids (refunds) and carrier pickups (create only, as Shippo documents:
no listing, no cancelling). Answers follow Shippo's published OpenAPI
description, status codes included, and carry every field the SDK needs to parse them.

Like Shippo, it has no idempotency: buying a rate twice buys two labels. Work asked for
with `async: true` is answered QUEUED and completes when the next request arrives.

Admin routes for tests (no auth), next to the shared `/_sandbox/faults`:
    GET  /_sandbox/transactions                  every label, as a JSON list
    GET  /_sandbox/refunds                       every refund, as a JSON list
    GET  /_sandbox/pickups                       every pickup booked, as a JSON list
    POST /_sandbox/reset                         forget everything
    POST /_sandbox/tracks/{number}/events        {"status": "TRANSIT", "substatus": ..., "status_details": ...}
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sandboxes.faults import ADMIN_PREFIX, install_faults

TEST_TOKEN_PREFIX = "shippo_test_"
LIVE_TOKEN_PREFIX = "shippo_live_"
OBJECT_OWNER = "sandbox@shippo.invalid"
SANDBOX_CARRIER_ACCOUNT = "5a9c1e3b7d2f4c6e8a0b1d3f5e7c9a2b"
CARRIER = "usps"
PROVIDER = "USPS"
USPS_TRACKING_URL = "https://tools.usps.com/go/TrackConfirmAction_input?origTrackNum={}"

TransactionStatus = Literal["WAITING", "QUEUED", "SUCCESS", "ERROR", "REFUNDED", "REFUNDPENDING", "REFUNDREJECTED"]
TrackingStatus = Literal["UNKNOWN", "PRE_TRANSIT", "TRANSIT", "DELIVERED", "RETURNED", "FAILURE"]

STATUS_DETAILS: dict[str, str] = {
    "UNKNOWN": "The carrier has not received the package yet.",
    "PRE_TRANSIT": "Shipping label created; the carrier has not received the package yet.",
    "TRANSIT": "The package is on its way.",
    "DELIVERED": "The package has been delivered.",
    "RETURNED": "The package is being returned to the sender.",
    "FAILURE": "The carrier could not deliver the package.",
}

PICKUP_CANCEL_NOTICE = timedelta(hours=1)

# A 1x1 PNG: where a carrier QR code would be.
QR_CODE_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@dataclass(frozen=True)
class ServiceLevel:
    token: str
    name: str
    amount: str
    estimated_days: int
    attributes: tuple[str, ...] = ()


SERVICE_LEVELS = (
    ServiceLevel("usps_ground_advantage", "Ground Advantage", "5.45", 4, ("CHEAPEST", "BESTVALUE")),
    ServiceLevel("usps_priority", "Priority Mail", "9.35", 2),
    ServiceLevel("usps_priority_express", "Priority Mail Express", "31.40", 1, ("FASTEST",)),
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_id() -> str:
    return uuid.uuid4().hex


class ShippoError(Exception):
    """An error answered with Shippo's error shape: `{"field": ["message"]}` or `{"detail": ...}`."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


def _not_found(kind: str, object_id: str) -> ShippoError:
    # The spec documents only 400 as the error answer of these operations.
    return ShippoError(400, {"detail": f"{kind} with object_id {object_id} not found."})


# --- request bodies, validated by hand so that bad input gets Shippo's 400, not FastAPI's 422


class _Body(BaseModel):
    # Shippo ignores fields it does not use, and takes numbers where it documents strings.
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class AddressIn(_Body):
    country: str = Field(min_length=1)
    name: str | None = None
    company: str | None = None
    street1: str | None = None
    street2: str | None = None
    street3: str | None = None
    street_no: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    phone: str | None = None
    email: str | None = None
    is_residential: bool | None = None
    metadata: str | None = None


class ParcelIn(_Body):
    length: str
    width: str
    height: str
    distance_unit: Literal["cm", "in", "ft", "m", "mm", "yd"]
    weight: str
    mass_unit: Literal["g", "kg", "lb", "oz"]
    metadata: str | None = None
    extra: dict[str, Any] | None = None


class ShipmentIn(_Body):
    # Addresses and parcels must be inline: the sandbox keeps no address or parcel objects.
    address_from: AddressIn
    address_to: AddressIn
    address_return: AddressIn | None = None
    parcels: list[ParcelIn] = Field(min_length=1)
    extra: dict[str, Any] = Field(default_factory=dict)
    metadata: str = ""
    shipment_date: str | None = None
    carrier_accounts: list[str] = Field(default_factory=list)
    async_: bool = Field(default=False, alias="async")


class RateTransactionIn(_Body):
    rate: str
    metadata: str = ""
    async_: bool = Field(default=True, alias="async")


class InstantTransactionIn(_Body):
    shipment: ShipmentIn
    carrier_account: str
    servicelevel_token: str
    metadata: str = ""
    async_: bool = Field(default=False, alias="async")


class RefundIn(_Body):
    transaction: str
    async_: bool = Field(default=True, alias="async")


class TrackIn(_Body):
    carrier: str
    tracking_number: str
    metadata: str | None = None


BuildingLocation = Literal[
    "Back Door",
    "Ring Bell",
    "Security Deck",
    "Shipping Dock",
    "Front Door",
    "Knock on Door",
    "In/At Mailbox",
    "Mail Room",
    "Office",
    "Other",
    "Reception",
    "Side Door",
]


class PickupAddressIn(AddressIn):
    # A pickup's address is complete (AddressCompleteCreateRequest): the courier must find it.
    name: str = Field(min_length=1)
    street1: str = Field(min_length=1)
    city: str = Field(min_length=1)
    state: str
    zip: str = Field(min_length=1)


class LocationIn(_Body):
    address: PickupAddressIn
    building_location_type: BuildingLocation
    building_type: Literal["apartment", "building", "department", "floor", "room", "suite"] | None = None
    instructions: str | None = None


class PickupIn(_Body):
    carrier_account: str
    location: LocationIn
    transactions: list[str] = Field(min_length=1)
    requested_start_time: datetime
    requested_end_time: datetime
    metadata: str | None = Field(default=None, max_length=100)


class PageQuery(_Body):
    page: int = Field(default=1, ge=1)
    results: int = Field(default=25, ge=1, le=100)


class TransactionQuery(PageQuery):
    rate: str | None = None
    object_status: TransactionStatus | None = None
    tracking_status: TrackingStatus | None = None


class SubstatusIn(BaseModel):
    code: str
    text: str = ""
    action_required: bool = False


class TrackEventIn(BaseModel):
    """Admin body moving a parcel along; `substatus` is a code or a full Shippo substatus."""

    status: TrackingStatus
    substatus: SubstatusIn | str | None = None
    status_details: str | None = None


BodyT = TypeVar("BodyT", bound=BaseModel)
MESSAGES = {
    "missing": "This field is required.",
    "model_type": "Expected an object; the sandbox resolves no object_id references.",
}


def _parse(model: type[BodyT], data: object) -> BodyT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "non_field_errors"
            message = MESSAGES.get(error["type"], error["msg"])
            errors.setdefault(name, []).append(message)
        raise ShippoError(400, errors) from None


# --- stored objects, each rendering itself the way Shippo answers it


@dataclass
class Shipment:
    wire: dict[str, Any]  # everything but status and rates
    rates: list[dict[str, Any]]
    qr_code_requested: bool
    status: str = "SUCCESS"

    def to_json(self) -> dict[str, Any]:
        return {**self.wire, "status": self.status, "rates": self.rates if self.status == "SUCCESS" else []}


@dataclass
class Label:
    """A Shippo Transaction: a purchased, or still queued, shipping label."""

    object_id: str
    test: bool
    rate: str | dict[str, Any]  # an object_id, or a simplified rate for instant purchases
    metadata: str
    base_url: str
    qr_code_requested: bool
    status: str = "QUEUED"
    tracking_number: str = ""
    created: str = field(default_factory=_now)
    updated: str = ""

    def to_json(self, tracking_status: str | None) -> dict[str, Any]:
        issued = bool(self.tracking_number)
        body: dict[str, Any] = {
            "object_id": self.object_id,
            "object_owner": OBJECT_OWNER,
            "object_state": "VALID",
            "object_created": self.created,
            "object_updated": self.updated or self.created,
            "status": self.status,
            "test": self.test,
            "rate": self.rate,
            "metadata": self.metadata,
            # The SDK cannot parse a Transaction without this key; API-token purchases have no user.
            "created_by": None,
            "messages": [],
            "label_file_type": "PDF",
            "label_url": f"{self.base_url}/labels/{self.object_id}.pdf" if issued else "",
            "tracking_number": self.tracking_number,
            "tracking_url_provider": USPS_TRACKING_URL.format(self.tracking_number) if issued else "",
        }
        if issued and self.qr_code_requested:
            body["qr_code_url"] = f"{self.base_url}/labels/{self.object_id}/qr.png"
        if tracking_status:
            body["tracking_status"] = tracking_status
        return body


@dataclass
class Refund:
    object_id: str
    transaction: str
    test: bool
    status: str
    created: str = field(default_factory=_now)
    updated: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "object_id": self.object_id,
            "object_owner": OBJECT_OWNER,
            "object_created": self.created,
            "object_updated": self.updated or self.created,
            "status": self.status,
            "test": self.test,
            "transaction": self.transaction,
        }


@dataclass
class Pickup:
    object_id: str
    body: PickupIn
    test: bool
    confirmation_code: str
    created: str = field(default_factory=_now)

    def to_json(self) -> dict[str, Any]:
        start, end = self.body.requested_start_time, self.body.requested_end_time
        return {
            **self.body.model_dump(mode="json", exclude_none=True),
            "object_id": self.object_id,
            "object_created": self.created,
            "object_updated": self.created,
            # The carrier confirms the window asked for; a cancellation goes to it until an hour before.
            "confirmed_start_time": _iso(start),
            "confirmed_end_time": _iso(end),
            "cancel_by_time": _iso(start - PICKUP_CANCEL_NOTICE),
            "status": "CONFIRMED",
            "confirmation_code": self.confirmation_code,
            "timezone": "UTC",
            "messages": [],
            "is_test": self.test,
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Track:
    carrier: str
    tracking_number: str
    history: list[dict[str, Any]]
    transaction: str | None = None
    metadata: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "carrier": self.carrier,
            "tracking_number": self.tracking_number,
            "messages": [],
            "tracking_history": self.history,
            "tracking_status": self.history[-1],
        }
        if self.transaction:
            body["transaction"] = self.transaction
        if self.metadata is not None:
            body["metadata"] = self.metadata
        return body


def _tracking_event(status: str, details: str | None = None, substatus: SubstatusIn | None = None) -> dict[str, Any]:
    now = _now()
    event: dict[str, Any] = {
        "object_id": _new_id(),
        "object_created": now,
        "object_updated": now,
        "status": status,
        "status_details": details or STATUS_DETAILS[status],
        "status_date": now,
    }
    if substatus is not None:
        event["substatus"] = substatus.model_dump()
    return event


class ShippoState:
    """Everything the sandbox knows. Callers hold `locked()` around any use but `reset()`."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.shipments: dict[str, Shipment] = {}
            self.rates: dict[str, Shipment] = {}  # rate object_id -> its shipment
            self.labels: dict[str, Label] = {}
            self.refunds: dict[str, Refund] = {}
            self.tracks: dict[str, Track] = {}  # by tracking number
            self.pickups: dict[str, Pickup] = {}
            self._pending: list[Refund | Label | Shipment] = []

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Holds the lock, first completing the work queued by earlier `async` requests."""
        with self._lock:
            pending, self._pending = self._pending, []
            for item in pending:
                self._complete(item)
            yield

    def _complete(self, item: Refund | Label | Shipment) -> None:
        if isinstance(item, Shipment):
            item.status = "SUCCESS"
            item.wire["object_updated"] = _now()
        elif isinstance(item, Label):
            self._issue(item)
        else:
            item.status, item.updated = "SUCCESS", _now()
            label = self.labels[item.transaction]
            label.status, label.updated = "REFUNDED", item.updated

    # shipments and rates

    def create_shipment(self, body: ShipmentIn, test: bool) -> Shipment:
        object_id, now = _new_id(), _now()

        def stamp(wire: dict[str, Any]) -> dict[str, Any]:
            ids = {"object_id": _new_id(), "object_owner": OBJECT_OWNER, "object_created": now, "object_updated": now}
            return {**wire, **ids, "test": test}

        def address(given: AddressIn) -> dict[str, Any]:
            return stamp({**given.model_dump(exclude_none=True), "is_complete": True})

        wire: dict[str, Any] = {
            "object_id": object_id,
            "object_owner": OBJECT_OWNER,
            "object_created": now,
            "object_updated": now,
            "test": test,
            "address_from": address(body.address_from),
            "address_to": address(body.address_to),
            "parcels": [stamp({**p.model_dump(exclude_none=True), "object_state": "VALID"}) for p in body.parcels],
            "extra": body.extra,
            "metadata": body.metadata,
            "shipment_date": body.shipment_date or now,
            "carrier_accounts": body.carrier_accounts,
            "messages": [],
        }
        if body.address_return is not None:
            wire["address_return"] = address(body.address_return)
        shipment = Shipment(wire, [], qr_code_requested=bool(body.extra.get("qr_code_requested")))
        # Rates are quoted now but, for an async shipment, only shown once it has completed.
        for level in SERVICE_LEVELS:
            rate = {
                "object_id": _new_id(),
                "object_owner": OBJECT_OWNER,
                "object_created": now,
                "shipment": object_id,
                "attributes": list(level.attributes),
                "amount": level.amount,
                "currency": "USD",
                "amount_local": level.amount,
                "currency_local": "USD",
                "provider": PROVIDER,
                "servicelevel": {"name": level.name, "token": level.token, "terms": ""},
                "carrier_account": SANDBOX_CARRIER_ACCOUNT,
                "estimated_days": level.estimated_days,
                "duration_terms": f"Delivery in {level.estimated_days} business days.",
                "messages": [],
                "test": test,
            }
            shipment.rates.append(rate)
            self.rates[rate["object_id"]] = shipment
        if body.async_:
            shipment.status = "QUEUED"
            self._pending.append(shipment)
        self.shipments[object_id] = shipment
        return shipment

    def shipment(self, object_id: str) -> Shipment:
        if object_id not in self.shipments:
            raise _not_found("Shipment", object_id)
        return self.shipments[object_id]

    def rate(self, object_id: str) -> dict[str, Any]:
        if object_id not in self.rates:
            raise _not_found("Rate", object_id)
        return next(rate for rate in self.rates[object_id].rates if rate["object_id"] == object_id)

    # labels

    def buy_rate(self, body: RateTransactionIn, test: bool, base_url: str) -> Label:
        if body.rate not in self.rates:
            raise ShippoError(400, {"rate": [f"Rate with object_id {body.rate} not found."]})
        return self._buy(body.rate, self.rates[body.rate], body.metadata, body.async_, test, base_url)

    def buy_instant(self, body: InstantTransactionIn, test: bool, base_url: str) -> Label:
        offered = [level.token for level in SERVICE_LEVELS]
        if body.servicelevel_token not in offered:
            message = f"Unknown service level; the sandbox offers {', '.join(offered)}."
            raise ShippoError(400, {"servicelevel_token": [message]})
        shipment = self.create_shipment(body.shipment.model_copy(update={"async_": False}), test)
        rate = next(r for r in shipment.rates if r["servicelevel"]["token"] == body.servicelevel_token)
        core_rate = {
            "object_id": rate["object_id"],
            "amount": rate["amount"],
            "currency": rate["currency"],
            "amount_local": rate["amount_local"],
            "currency_local": rate["currency_local"],
            "provider": rate["provider"],
            "carrier_account": body.carrier_account,
            "servicelevel_name": rate["servicelevel"]["name"],
            "servicelevel_token": rate["servicelevel"]["token"],
        }
        return self._buy(core_rate, shipment, body.metadata, body.async_, test, base_url)

    def _buy(
        self, rate: str | dict[str, Any], shipment: Shipment, metadata: str, async_: bool, test: bool, base_url: str
    ) -> Label:
        label = Label(_new_id(), test, rate, metadata, base_url, shipment.qr_code_requested)
        self.labels[label.object_id] = label
        if async_:
            self._pending.append(label)
        else:
            self._issue(label)
        return label

    def _issue(self, label: Label) -> None:
        # USPS-like: 22 digits, unique among the numbers the sandbox knows.
        while (number := f"92{secrets.randbelow(10**20):020d}") in self.tracks:
            pass
        label.tracking_number, label.status, label.updated = number, "SUCCESS", _now()
        self.tracks[number] = Track(CARRIER, number, [_tracking_event("PRE_TRANSIT")], transaction=label.object_id)

    def label(self, object_id: str) -> Label:
        if object_id not in self.labels:
            raise _not_found("Transaction", object_id)
        return self.labels[object_id]

    def label_json(self, label: Label) -> dict[str, Any]:
        track = self.tracks.get(label.tracking_number)
        return label.to_json(track.history[-1]["status"] if track else None)

    def list_labels(self, query: TransactionQuery) -> list[dict[str, Any]]:
        labels = (self.label_json(label) for label in reversed(self.labels.values()))  # newest first, like Shippo
        return [
            label
            for label in labels
            if (query.rate is None or label["rate"] == query.rate)
            and (query.object_status is None or label["status"] == query.object_status)
            and (query.tracking_status is None or label.get("tracking_status") == query.tracking_status)
        ]

    # refunds (label voids)

    def create_refund(self, body: RefundIn, test: bool) -> Refund:
        if body.transaction not in self.labels:
            raise ShippoError(400, {"transaction": [f"Transaction with object_id {body.transaction} not found."]})
        label = self.labels[body.transaction]
        if label.status != "SUCCESS":
            message = f"Transaction has status {label.status}; only SUCCESS labels can be refunded."
            raise ShippoError(400, {"transaction": [message]})
        refund = Refund(_new_id(), label.object_id, test, "QUEUED")
        self.refunds[refund.object_id] = refund
        label.status, label.updated = "REFUNDPENDING", refund.created
        if body.async_:
            self._pending.append(refund)
        else:
            self._complete(refund)
        return refund

    def refund(self, object_id: str) -> Refund:
        if object_id not in self.refunds:
            raise _not_found("Refund", object_id)
        return self.refunds[object_id]

    # pickups

    def create_pickup(self, body: PickupIn, test: bool) -> Pickup:
        """Books a courier for labels already bought, like the carriers Shippo books them with:
        not for a window in the past, not on a Sunday, not for a voided label."""
        start, end = body.requested_start_time, body.requested_end_time
        if start.tzinfo is None or end.tzinfo is None:
            raise ShippoError(400, {"requested_start_time": ["Give the time zone (e.g. 2020-05-12T12:00:00Z)."]})
        if end <= start:
            raise ShippoError(400, {"requested_end_time": ["The pickup window must end after it starts."]})
        if start < datetime.now(UTC):
            raise ShippoError(400, {"requested_start_time": ["The pickup window has already started."]})
        if start.astimezone(UTC).weekday() == 6:
            raise ShippoError(400, {"requested_start_time": ["The carrier does not pick up on Sundays."]})
        if body.location.building_location_type == "Other" and not body.location.instructions:
            raise ShippoError(400, {"location.instructions": ["Instructions are required for location type Other."]})
        for transaction in body.transactions:
            label = self.labels.get(transaction)
            if label is None:
                raise ShippoError(400, {"transactions": [f"Transaction with object_id {transaction} not found."]})
            if label.status != "SUCCESS":
                message = f"Transaction {transaction} has status {label.status}; only SUCCESS labels can be picked up."
                raise ShippoError(400, {"transactions": [message]})
        if body.carrier_account != SANDBOX_CARRIER_ACCOUNT:
            raise ShippoError(400, {"carrier_account": [f"Carrier account {body.carrier_account} not found."]})
        pickup = Pickup(_new_id(), body, test, f"WTC{secrets.randbelow(10**9):09d}")
        self.pickups[pickup.object_id] = pickup
        return pickup

    # tracking

    def track(self, carrier: str, tracking_number: str) -> Track:
        # Shippo answers for any number; the sandbox starts tracking a number when first asked.
        if tracking_number not in self.tracks:
            self.tracks[tracking_number] = Track(carrier, tracking_number, [_tracking_event("UNKNOWN")])
        return self.tracks[tracking_number]

    def add_tracking_event(self, tracking_number: str, event: TrackEventIn) -> Track:
        if tracking_number not in self.tracks:
            message = f"No label or registered track has tracking number {tracking_number}."
            raise ShippoError(404, {"detail": message})
        substatus = event.substatus
        if isinstance(substatus, str):
            substatus = SubstatusIn(code=substatus, text=substatus.replace("_", " ").capitalize())
        track = self.tracks[tracking_number]
        track.history.append(_tracking_event(event.status, event.status_details, substatus))
        return track


# --- HTTP


def _state(request: Request) -> ShippoState:
    return request.app.state.shippo


def _test_mode(authorization: Annotated[str | None, Header()] = None) -> bool:
    """Checks `Authorization: ShippoToken <token>`; answers whether the token is a test one."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme != "ShippoToken" or not token.startswith((TEST_TOKEN_PREFIX, LIVE_TOKEN_PREFIX)):
        raise ShippoError(401, {"detail": "Invalid token."})
    return token.startswith(TEST_TOKEN_PREFIX)


async def _json_body(request: Request) -> object:
    try:
        return await request.json()
    except ValueError:
        raise ShippoError(400, {"detail": "JSON parse error."}) from None


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _paginated(request: Request, items: list[dict[str, Any]], query: PageQuery) -> dict[str, Any]:
    start = (query.page - 1) * query.results
    body: dict[str, Any] = {"results": items[start : start + query.results]}
    # The spec types next/previous as plain strings, so absent links are left out, not null.
    if start + query.results < len(items):
        body["next"] = str(request.url.include_query_params(page=query.page + 1, results=query.results))
    if query.page > 1:
        body["previous"] = str(request.url.include_query_params(page=query.page - 1, results=query.results))
    return body


State = Annotated[ShippoState, Depends(_state)]
TestMode = Annotated[bool, Depends(_test_mode)]

api = APIRouter(dependencies=[Depends(_test_mode)])


@api.post("/shipments", status_code=201)
async def create_shipment(request: Request, state: State, test: TestMode) -> dict[str, Any]:
    body = _parse(ShipmentIn, await _json_body(request))
    with state.locked():
        return state.create_shipment(body, test).to_json()


@api.get("/shipments/{shipment_id}")
def get_shipment(shipment_id: str, state: State) -> dict[str, Any]:
    with state.locked():
        return state.shipment(shipment_id).to_json()


@api.get("/rates/{rate_id}")
def get_rate(rate_id: str, state: State) -> dict[str, Any]:
    with state.locked():
        return state.rate(rate_id)


@api.post("/transactions", status_code=201)
async def create_transaction(request: Request, state: State, test: TestMode) -> dict[str, Any]:
    data = await _json_body(request)
    # The body is one of two forms (spec: oneOf); only the rate form has a `rate`.
    body = _parse(RateTransactionIn if isinstance(data, dict) and "rate" in data else InstantTransactionIn, data)
    with state.locked():
        if isinstance(body, RateTransactionIn):
            label = state.buy_rate(body, test, _base_url(request))
        else:
            label = state.buy_instant(body, test, _base_url(request))
        return state.label_json(label)


@api.get("/transactions")
def list_transactions(request: Request, state: State) -> dict[str, Any]:
    query = _parse(TransactionQuery, dict(request.query_params))
    with state.locked():
        return _paginated(request, state.list_labels(query), query)


@api.get("/transactions/{transaction_id}")
def get_transaction(transaction_id: str, state: State) -> dict[str, Any]:
    with state.locked():
        return state.label_json(state.label(transaction_id))


@api.post("/refunds", status_code=201)
async def create_refund(request: Request, state: State, test: TestMode) -> dict[str, Any]:
    body = _parse(RefundIn, await _json_body(request))
    with state.locked():
        return state.create_refund(body, test).to_json()


# The spec (and so the SDK) lists refunds at `/refunds/`; the bare path is accepted too.
@api.get("/refunds/")
@api.get("/refunds", include_in_schema=False)
def list_refunds(request: Request, state: State) -> dict[str, Any]:
    query = _parse(PageQuery, dict(request.query_params))
    with state.locked():
        refunds = [refund.to_json() for refund in reversed(state.refunds.values())]
    return _paginated(request, refunds, query)


@api.get("/refunds/{refund_id}")
def get_refund(refund_id: str, state: State) -> dict[str, Any]:
    with state.locked():
        return state.refund(refund_id).to_json()


@api.post("/pickups", status_code=201)
async def create_pickup(request: Request, state: State, test: TestMode) -> dict[str, Any]:
    body = _parse(PickupIn, await _json_body(request))
    with state.locked():
        return state.create_pickup(body, test).to_json()


@api.post("/tracks")  # 200, not 201: that is what Shippo documents and the SDK expects
async def create_track(request: Request, state: State) -> dict[str, Any]:
    body = _parse(TrackIn, await _json_body(request))
    with state.locked():
        track = state.track(body.carrier, body.tracking_number)
        track.metadata = body.metadata
        return track.to_json()


@api.get("/tracks/{carrier}/{tracking_number}")
def get_track(carrier: str, tracking_number: str, state: State) -> dict[str, Any]:
    with state.locked():
        return state.track(carrier, tracking_number).to_json()


# Label files stand in for carrier-hosted downloads, which need no Shippo token.
files = APIRouter(prefix="/labels")


def _issued_label(state: ShippoState, label_id: str) -> Label:
    with state.locked():
        label = state.labels.get(label_id)
    if label is None or not label.tracking_number:
        raise ShippoError(404, {"detail": "Not found."})
    return label


@files.get("/{label_id}.pdf")
def download_label(label_id: str, state: State) -> Response:
    label = _issued_label(state, label_id)
    return Response(_label_pdf(f"SANDBOX LABEL {label.tracking_number}"), media_type="application/pdf")


@files.get("/{label_id}/qr.png")
def download_qr_code(label_id: str, state: State) -> Response:
    if not _issued_label(state, label_id).qr_code_requested:
        raise ShippoError(404, {"detail": "Not found."})
    return Response(QR_CODE_PNG, media_type="image/png")


def _label_pdf(text: str) -> bytes:
    """A one-page 4x6 in PDF printing `text`, with the byte offsets a valid xref table needs."""
    stream = b"BT /F1 14 Tf 24 380 Td (%s) Tj ET" % text.encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 288 432] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    pdf = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(pdf)


admin = APIRouter(prefix=ADMIN_PREFIX, tags=["sandbox admin"])


@admin.get("/transactions")
def all_labels(state: State) -> list[dict[str, Any]]:
    with state.locked():
        return [state.label_json(label) for label in state.labels.values()]


@admin.get("/refunds")
def all_refunds(state: State) -> list[dict[str, Any]]:
    with state.locked():
        return [refund.to_json() for refund in state.refunds.values()]


@admin.get("/pickups")
def all_pickups(state: State) -> list[dict[str, Any]]:
    with state.locked():
        return [pickup.to_json() for pickup in state.pickups.values()]


@admin.post("/reset", status_code=204)
def reset(state: State) -> None:
    state.reset()


@admin.post("/tracks/{tracking_number}/events")
def add_tracking_event(tracking_number: str, event: TrackEventIn, state: State) -> dict[str, Any]:
    with state.locked():
        return state.add_tracking_event(tracking_number, event).to_json()


def create_app() -> FastAPI:
    app = FastAPI(title="Shippo sandbox", docs_url=None, redoc_url=None)
    app.state.shippo = ShippoState()

    @app.exception_handler(ShippoError)
    async def shippo_error(_: Request, exc: ShippoError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status)

    app.include_router(api)
    app.include_router(files)
    app.include_router(admin)
    install_faults(app, lambda status: {"detail": f"Sandbox fault: HTTP {status}."})
    return app
