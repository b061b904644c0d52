"""Return labels, their voids and their tracking, through the official Shippo SDK.

The SDK is synchronous and sets no timeout, so every call here runs in a worker thread
on a session that always sets connect and read timeouts. Retries are Temporal's: this
module classifies each failure as retryable (408, 429, 5xx, network) or not.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
import shippo
from shippo.models import components, errors, operations

from integrations.errors import IntegrationError, describe_error_body, is_retryable_status
from integrations.settings import Settings

T = TypeVar("T")

# How many recent labels to scan when looking for one bought by an earlier attempt.
_LOOKBACK_PAGES = 4
_PAGE_SIZE = 100
# The error code of a 2xx answer the SDK could not parse into its models (see `_call`).
_UNPARSEABLE = "unparseable_response"


class _TimeoutSession(requests.Session):
    """A requests session that never waits forever (the Shippo SDK passes no timeout)."""

    def __init__(self, connect_timeout: float, read_timeout: float):
        super().__init__()
        self._timeout = (connect_timeout, read_timeout)

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:  # type: ignore[override]
        kwargs["timeout"] = kwargs.get("timeout") or self._timeout
        return super().send(request, **kwargs)


# What a label purchase reads (structural: the activity layer's models fit as they are).
class PostalAddress(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def street1(self) -> str: ...
    @property
    def street2(self) -> str | None: ...
    @property
    def city(self) -> str: ...
    @property
    def state(self) -> str | None: ...
    @property
    def zip(self) -> str: ...
    @property
    def country(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...


class ParcelSize(Protocol):
    @property
    def length_cm(self) -> float: ...
    @property
    def width_cm(self) -> float: ...
    @property
    def height_cm(self) -> float: ...
    @property
    def weight_kg(self) -> float: ...


class ReturnShipment(Protocol):
    @property
    def customer_address(self) -> PostalAddress: ...  # where the parcel leaves from
    @property
    def warehouse_address(self) -> PostalAddress: ...  # where it goes
    @property
    def parcel(self) -> ParcelSize: ...
    @property
    def qr_code(self) -> bool: ...


class PickupAsked(Protocol):
    """A window a carrier is asked to collect a parcel in."""

    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def instructions(self) -> str | None: ...


@dataclass(frozen=True)
class ShippoLabel:
    """A bought label: only references, never the file itself."""

    transaction_id: str
    label_url: str | None
    qr_code_url: str | None
    tracking_number: str
    carrier: str
    carrier_account: str | None = None


@dataclass(frozen=True)
class ShippoPickup:
    """A pickup the carrier confirmed; times in UTC."""

    pickup_id: str
    confirmation_code: str | None
    start: datetime
    end: datetime
    cancel_by: datetime | None


@dataclass(frozen=True)
class ShippoVoid:
    refund_id: str
    status: str  # Shippo's own: QUEUED, PENDING, SUCCESS, ERROR


class ShippoLabels:
    def __init__(self, settings: Settings):
        self._client = shippo.Shippo(
            api_key_header=settings.shippo_token,
            server_url=settings.shippo_base,
            client=_TimeoutSession(settings.shippo_connect_timeout_seconds, settings.shippo_read_timeout_seconds),
        )
        self._label_file_type = components.LabelFileTypeEnum(settings.shippo_label_file_type)

    async def buy_return_label(
        self, shipment: ReturnShipment, *, metadata: str, look_for_earlier_purchase: bool
    ) -> ShippoLabel:
        """Buys the cheapest return label, or finds the one an earlier attempt already bought.

        Shippo has no idempotency key on purchases; an attempt that crashed after buying left a
        label carrying this `metadata` (unique per return), so retries look before they buy.
        """
        if look_for_earlier_purchase:
            existing = await self._call(lambda: self._find_label(metadata))
            if existing is not None:
                return existing
        shipment_request = _return_shipment(shipment, metadata)
        shipment = await self._call(lambda: self._client.shipments.create(shipment_request))
        rate = _cheapest_rate(shipment)
        purchase = components.TransactionCreateRequest(
            rate=rate.object_id, async_=False, label_file_type=self._label_file_type, metadata=metadata
        )
        transaction = await self._call(lambda: self._client.transactions.create(purchase))
        return _label_from(transaction, carrier=carrier_token(rate.provider), carrier_account=rate.carrier_account)

    async def book_pickup(
        self,
        transaction_id: str,
        carrier_account: str | None,
        address: PostalAddress,
        window: PickupAsked,
        *,
        metadata: str,
    ) -> ShippoPickup:
        """Asks the label's carrier to collect the parcel at `address` in `window`.

        Shippo keeps no idempotency on pickups and lists none back: an attempt that died after
        booking books again when retried. Carriers collect the parcel once; the second booking's
        confirmation code is the one kept. A pickup the carrier refuses (a 400, or an answer in
        status ERROR) is not retried: the shopper picks another window.
        """
        if carrier_account is None:  # a label bought before labels carried their account
            carrier_account = await self._call(lambda: self._carrier_account_of(transaction_id))
        location = components.Location(
            address=_complete_address(address),
            building_location_type=(
                components.BuildingLocationType.OTHER
                if window.instructions
                else components.BuildingLocationType.FRONT_DOOR
            ),
            instructions=window.instructions,
        )
        request = components.PickupBase(
            carrier_account=carrier_account,
            location=location,
            transactions=[transaction_id],
            requested_start_time=window.start.astimezone(UTC),
            requested_end_time=window.end.astimezone(UTC),
            metadata=metadata,
        )
        try:
            pickup = await self._call(lambda: self._client.pickups.create(request))
        except IntegrationError as error:
            if error.status == 400:
                raise IntegrationError("shippo", "pickup_refused", error.message, retryable=False) from error
            raise
        if pickup.status in (components.PickupStatus.ERROR, components.PickupStatus.CANCELLED):
            said = "; ".join(pickup.messages or []) or f"the carrier answered {pickup.status.value}"
            raise IntegrationError("shippo", "pickup_refused", said, retryable=False)
        zone = _zone(pickup.timezone)
        return ShippoPickup(
            pickup_id=pickup.object_id or "",
            confirmation_code=pickup.confirmation_code,
            start=_carrier_time(pickup.confirmed_start_time, zone) or window.start.astimezone(UTC),
            end=_carrier_time(pickup.confirmed_end_time, zone) or window.end.astimezone(UTC),
            cancel_by=_carrier_time(pickup.cancel_by_time, zone),
        )

    def _carrier_account_of(self, transaction_id: str) -> str:
        transaction = self._client.transactions.get(transaction_id)
        rate = transaction.rate
        rate = self._client.rates.get(rate) if isinstance(rate, str) else rate
        return rate.carrier_account

    async def void_label(self, transaction_id: str) -> ShippoVoid:
        """Voids an unused label (Shippo calls it a refund); one already voided counts as voided.

        Shippo answers a second void of a label with a 400, so a 400 is only believed once the
        label's refunds show none that an earlier attempt made.
        """
        try:
            refund = await self._call(lambda: self._client.refunds.create(transaction=transaction_id, async_=False))
        except IntegrationError as error:
            earlier = await self._call(lambda: self._find_refund(transaction_id)) if error.status == 400 else None
            if earlier is None:
                raise
            refund = earlier
        return ShippoVoid(refund_id=refund.object_id or "", status=refund.status.value if refund.status else "UNKNOWN")

    async def register_tracking(self, carrier: str, tracking_number: str, *, metadata: str) -> None:
        """Subscribes to the parcel's `track_updated` webhooks, tagged with `metadata`."""
        try:
            await self._call(
                lambda: self._client.tracking_status.create(
                    carrier=carrier, tracking_number=tracking_number, metadata=metadata
                )
            )
        except IntegrationError as error:
            # Shippo registered the parcel, but the SDK chokes on some Track answers (an
            # unknown status, a missing key); the answer itself is not needed.
            if error.code != f"shippo.{_UNPARSEABLE}":
                raise

    def _find_label(self, metadata: str) -> ShippoLabel | None:
        for page in range(1, _LOOKBACK_PAGES + 1):
            listing = self._client.transactions.list(
                operations.ListTransactionsRequest(
                    object_status=components.TransactionStatusEnum.SUCCESS, page=page, results=_PAGE_SIZE
                )
            )
            for transaction in listing.results or []:
                if transaction.metadata == metadata:
                    rate = self._client.rates.get(transaction.rate) if isinstance(transaction.rate, str) else None
                    return _label_from(
                        transaction,
                        carrier=carrier_token(rate.provider) if rate else None,
                        carrier_account=rate.carrier_account if rate else None,
                    )
            if not listing.next:
                return None
        return None

    def _find_refund(self, transaction_id: str) -> components.Refund | None:
        # The SDK lists only the first page of refunds, newest first: enough for a void just made.
        listing = self._client.refunds.list()
        return next(
            (
                refund
                for refund in listing.results or []
                if refund.transaction == transaction_id and refund.status != components.RefundStatus.ERROR
            ),
            None,
        )

    async def _call(self, call: Callable[[], T]) -> T:
        """Runs one SDK call in a worker thread and classifies how it failed."""
        try:
            return await asyncio.to_thread(call)
        except errors.SDKError as error:
            raise IntegrationError(
                "shippo",
                f"http_{error.status_code}",
                _vendor_message(error),
                retryable=is_retryable_status(error.status_code),
                status=error.status_code,
            ) from error
        except requests.RequestException as error:
            raise IntegrationError("shippo", "network", str(error), retryable=True) from error
        except (KeyError, ValueError, AttributeError) as error:
            # The SDK raises these while parsing a 2xx answer (a key its model requires is
            # missing, an enum gained a value); asking again would read the same answer.
            message = f"the Shippo SDK could not parse the answer: {type(error).__name__}: {error}"
            raise IntegrationError("shippo", _UNPARSEABLE, message, retryable=False) from error


def _return_shipment(shipment: ReturnShipment, metadata: str) -> components.ShipmentCreateRequest:
    # Shippo wants the outbound addresses for a return and swaps them itself.
    return components.ShipmentCreateRequest(
        address_from=_address(shipment.warehouse_address),
        address_to=_address(shipment.customer_address),
        parcels=[_parcel(shipment.parcel)],
        # A QR code lets the shopper drop the parcel off without printing; not every carrier has one.
        extra=components.ShipmentExtra(is_return=True, qr_code_requested=shipment.qr_code or None),
        metadata=metadata,
        async_=False,
    )


def _address(address: PostalAddress) -> components.AddressCreateRequest:
    return components.AddressCreateRequest(
        name=address.name,
        street1=address.street1,
        street2=address.street2,
        city=address.city,
        state=address.state,
        zip=address.zip,
        country=address.country,
        email=address.email,
        phone=address.phone,
    )


def _complete_address(address: PostalAddress) -> components.AddressCompleteCreateRequest:
    return components.AddressCompleteCreateRequest(
        name=address.name,
        street1=address.street1,
        street2=address.street2,
        city=address.city,
        state=address.state or "",  # required by the pickup's schema; many countries have none
        zip=address.zip,
        country=address.country,
        email=address.email,
        phone=address.phone,
    )


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _carrier_time(value: str | None, zone: ZoneInfo) -> datetime | None:
    """A pickup's time as Shippo sends it: with an offset, or in the pickup's own time zone."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(UTC)


def _parcel(parcel: ParcelSize) -> components.ParcelCreateRequest:
    return components.ParcelCreateRequest(
        length=str(parcel.length_cm),
        width=str(parcel.width_cm),
        height=str(parcel.height_cm),
        distance_unit=components.DistanceUnitEnum.CM,
        weight=str(parcel.weight_kg),
        mass_unit=components.WeightUnitEnum.KG,
    )


def _cheapest_rate(shipment: components.Shipment) -> components.Rate:
    if not shipment.rates:
        messages = "; ".join(m.text or "" for m in shipment.messages or []) or "no rates offered"
        raise IntegrationError("shippo", "no_rates", messages, retryable=False)
    return min(shipment.rates, key=lambda rate: Decimal(rate.amount))


def _label_from(
    transaction: components.Transaction, carrier: str | None, carrier_account: str | None = None
) -> ShippoLabel:
    # Shippo sends "" rather than null for a file it did not make (e.g. QR code only).
    label_url, qr_code_url = transaction.label_url or None, transaction.qr_code_url or None
    if transaction.status != components.TransactionStatusEnum.SUCCESS or not (label_url or qr_code_url):
        messages = "; ".join(m.text or "" for m in transaction.messages or []) or str(transaction.status)
        raise IntegrationError("shippo", "label_not_issued", messages, retryable=False)
    return ShippoLabel(
        transaction_id=transaction.object_id or "",
        label_url=label_url,
        qr_code_url=qr_code_url,
        tracking_number=transaction.tracking_number or "",
        carrier=carrier or _carrier_of(transaction),
        carrier_account=carrier_account,
    )


def _carrier_of(transaction: components.Transaction) -> str:
    return carrier_token(getattr(transaction.rate, "provider", None) or "unknown")


def carrier_token(provider: str) -> str:
    """Shippo's tracking API wants a carrier token ("usps", "dhl_express"), rates name the
    provider ("USPS", "DHL Express")."""
    return provider.strip().lower().replace(" ", "_")


def _vendor_message(error: errors.SDKError) -> str:
    """Shippo's own words for the operator: its error bodies vary in shape (`{"detail": ...}`,
    `{"rate": ["... not found."]}`), so they are read, not passed on as JSON."""
    try:
        said = describe_error_body(json.loads(error.body))
    except (TypeError, ValueError):
        said = error.body or None
    return said or f"HTTP {error.status_code}"
