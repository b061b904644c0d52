"""Return labels through the official Shippo SDK.

The SDK is synchronous and sets no timeout, so every call here runs in a worker thread
on a session that always sets connect and read timeouts. Retries are Temporal's: this
module classifies each failure as retryable (408, 429, 5xx, network) or not.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

import requests
import shippo
from shippo.models import components, errors, operations

from integrations.errors import IntegrationError, is_retryable_status
from integrations.settings import Settings
from workflows.models import Address, Label, LabelRequest, Parcel

T = TypeVar("T")

# How many recent labels to scan when looking for one bought by an earlier attempt.
_LOOKBACK_PAGES = 4
_PAGE_SIZE = 100


class _TimeoutSession(requests.Session):
    """A requests session that never waits forever (the Shippo SDK passes no timeout)."""

    def __init__(self, connect_timeout: float, read_timeout: float):
        super().__init__()
        self._timeout = (connect_timeout, read_timeout)

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:  # type: ignore[override]
        kwargs["timeout"] = kwargs.get("timeout") or self._timeout
        return super().send(request, **kwargs)


def label_metadata(return_id: str) -> str:
    """What the label carries to find its return again (Shippo limits metadata to 100 chars)."""
    return f"return:{return_id}"


class ShippoLabels:
    def __init__(self, settings: Settings):
        self._settings = settings
        self._client = shippo.Shippo(
            api_key_header=settings.shippo_token,
            server_url=settings.shippo_base,
            client=_TimeoutSession(settings.shippo_connect_timeout_seconds, settings.shippo_read_timeout_seconds),
        )

    async def buy_return_label(self, request: LabelRequest, *, look_for_earlier_purchase: bool) -> Label:
        """Buys the cheapest return label, or finds the one an earlier attempt already bought.

        Shippo has no idempotency key on purchases; an attempt that crashed after buying
        left a label whose metadata names this return, so retries look before they buy.
        """
        metadata = label_metadata(request.return_id)
        if look_for_earlier_purchase:
            existing = await self._call(lambda: self._find_label(metadata))
            if existing is not None:
                return existing
        shipment = await self._call(lambda: self._client.shipments.create(_return_shipment(request, metadata)))
        rate = _cheapest_rate(shipment)
        transaction = await self._call(
            lambda: self._client.transactions.create(
                components.TransactionCreateRequest(
                    rate=rate.object_id,
                    async_=False,
                    label_file_type=components.LabelFileTypeEnum(self._settings.shippo_label_file_type),
                    metadata=metadata,
                )
            )
        )
        return _label_from(transaction, carrier=rate.provider)

    def _find_label(self, metadata: str) -> Label | None:
        for page in range(1, _LOOKBACK_PAGES + 1):
            listing = self._client.transactions.list(
                operations.ListTransactionsRequest(
                    object_status=components.TransactionStatusEnum.SUCCESS, page=page, results=_PAGE_SIZE
                )
            )
            for transaction in listing.results or []:
                if transaction.metadata == metadata:
                    return _label_from(transaction, carrier=None)
            if not listing.next:
                return None
        return None

    async def _call(self, call: Callable[[], T]) -> T:
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


def _return_shipment(request: LabelRequest, metadata: str) -> components.ShipmentCreateRequest:
    # Shippo wants the outbound addresses for a return and swaps them itself.
    return components.ShipmentCreateRequest(
        address_from=_address(request.warehouse_address),
        address_to=_address(request.customer_address),
        parcels=[_parcel(request.parcel)],
        extra=components.ShipmentExtra(is_return=True),
        metadata=metadata,
        async_=False,
    )


def _address(address: Address) -> components.AddressCreateRequest:
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


def _parcel(parcel: Parcel) -> components.ParcelCreateRequest:
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


def _label_from(transaction: components.Transaction, carrier: str | None) -> Label:
    if transaction.status != components.TransactionStatusEnum.SUCCESS or not transaction.label_url:
        messages = "; ".join(m.text or "" for m in transaction.messages or []) or str(transaction.status)
        raise IntegrationError("shippo", "label_not_issued", messages, retryable=False)
    return Label(
        transaction_id=transaction.object_id or "",
        label_url=transaction.label_url,
        tracking_number=transaction.tracking_number or "",
        carrier=carrier or _carrier_of(transaction),
    )


def _carrier_of(transaction: components.Transaction) -> str:
    rate = transaction.rate
    return getattr(rate, "provider", None) or "unknown"


def _vendor_message(error: errors.SDKError) -> str:
    """Shippo's own words, kept for the operator (its error bodies vary in shape)."""
    try:
        body = json.loads(error.body)
    except (TypeError, ValueError):
        return (error.body or error.message)[:500]
    return json.dumps(body)[:500]
