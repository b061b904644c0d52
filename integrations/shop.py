"""The shop platform: the shop's own backend, behind a small versioned JSON HTTP API.

A shop points `SHOP_API_BASE` at an adapter to its platform; locally the sandbox
(`sandboxes.shop_sandbox`) stands in. The API, version 1:

    GET    /v1/orders/{order_id}                                   order facts, with `customer_email` and
                                                                   `shipping_postal_code` (how shoppers name it);
                                                                   optional for the portal: line `title`s,
                                                                   `shipping_address`, `return_address`
    GET    /v1/orders/{order_id}/return_reservations               every return's reservation of the order
    POST   /v1/orders/{order_id}/return_reservations               {return_id, lines: [{line_id, quantity}]}
    GET    /v1/orders/{order_id}/return_reservations/{return_id}   the return's reservation, released or not (404: none)
    DELETE /v1/orders/{order_id}/return_reservations/{return_id}   release (204, also when absent; the record stays)
    GET    /v1/stock/{sku}                                         {sku, on_hand}
    GET    /v1/products/{sku}/variants                             {sku, variants: [{sku, title, on_hand}]}: the
                                                                   product's variants (sizes, colours), itself too
    POST   /v1/restocks                                            {sku, quantity, reference}
    GET    /v1/restocks?reference=
    POST   /v1/restocks/{restock_id}/reversal                      takes the units off sale again, once
    POST   /v1/{refurbishment_orders,liquidation_items,recycling_orders,vendor_rmas,donations,destructions}
                                                                   {return_id, line_id, sku, quantity}
    GET    /v1/{that collection}/{work_order_id}
    POST   /v1/work_orders/{work_order_id}/completion              {completed_by}: the warehouse confirms
    POST   /v1/store_credits                                       {customer_id, amount, currency, reference}
    GET    /v1/customers/{customer_id}/store_credit                {customer_id, balances: {currency: amount}}
    POST   /v1/exchange_orders                                     {order_id, customer_id, sku, quantity, reference}
    POST   /v1/notifications                                       {customer_id, return_id, kind, detail}
    GET    /v1/customers?email=                                    [{customer_id}]: whose orders carry the email
    GET    /v1/sales/daily?start=YYYY-MM-DD&end=YYYY-MM-DD         [{day, sku, category, currency, units}]: units
                                                                   sold per day (UTC) and SKU, end exclusive, at
                                                                   most 366 days (return rates' denominator)

Every POST carries an `Idempotency-Key`: the same key and body replay the first answer
without a second effect, the same key with another body is a 409 `idempotency_key_reused`.
Keys here are derived from the return and the step, never random, so a retried activity
sends the same key. Errors are `{"error": code, "message": ...}`; `code` becomes the
IntegrationError's (`shop.order_not_found`, `shop.out_of_stock`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx

from integrations.errors import IntegrationError, describe_error_body, is_retryable_status
from integrations.settings import Settings

VENDOR = "shop"

# Answers no retry can change, although their status (409) usually means "try again".
_PERMANENT_ERRORS = frozenset({"idempotency_key_reused", "out_of_stock"})

# The work order each disposition other than restock opens with the shop's partners.
WORK_ORDER_COLLECTIONS: dict[str, str] = {
    "refurbish": "/v1/refurbishment_orders",
    "liquidate": "/v1/liquidation_items",
    "recycle": "/v1/recycling_orders",
    "return_to_vendor": "/v1/vendor_rmas",
    "donate": "/v1/donations",
    "destroy": "/v1/destructions",
}


@dataclass(frozen=True)
class ShopOrderLine:
    line_id: str
    sku: str
    category: str
    quantity: int
    unit_price: int
    returnable: bool


@dataclass(frozen=True)
class ShopPayment:
    payment_intent_id: str
    amount: int


@dataclass(frozen=True)
class ShopOrder:
    order_id: str
    customer_id: str
    currency: str
    delivered_at: datetime | None
    lines: list[ShopOrderLine]
    customer_return_count: int
    payments: list[ShopPayment]  # in the order refunds go back to them


@dataclass(frozen=True)
class OrderContact:
    """What a shopper knows of their order besides its id; the eligibility door asks for one of them."""

    email: str | None
    postal_code: str | None


@dataclass(frozen=True)
class ShopAddress:
    name: str
    street1: str
    city: str
    zip: str
    country: str
    street2: str | None = None
    state: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class ShopperOrderLine(ShopOrderLine):
    title: str  # what the shopper bought, in their words (the SKU when the shop gives no title)


@dataclass(frozen=True)
class ShopperOrder:
    """The order as the shopper's portal shows it: what was bought, where it went, where returns go."""

    order_id: str
    customer_id: str
    currency: str
    delivered_at: datetime | None
    lines: list[ShopperOrderLine]
    contact: OrderContact
    shipping_address: ShopAddress | None
    return_address: ShopAddress | None  # the shop's dock for this order's returns


@dataclass(frozen=True)
class Variant:
    sku: str
    title: str
    on_hand: int


@dataclass(frozen=True)
class ReservedLine:
    line_id: str
    requested: int
    reserved: int  # never more than bought minus what the order's other returns reserved


@dataclass(frozen=True)
class Restock:
    restock_id: str
    sku: str
    quantity: int


@dataclass(frozen=True)
class StoreCredit:
    credit_id: str
    amount: int
    currency: str


@dataclass(frozen=True)
class ExchangeOrder:
    exchange_order_id: str | None  # None: the variant is out of stock
    sku: str
    quantity: int


@dataclass(frozen=True)
class DailySales:
    day: date
    sku: str
    category: str | None
    currency: str
    units: int


class ShopPlatform:
    def __init__(self, settings: Settings):
        self._http = httpx.AsyncClient(base_url=settings.shop_base, timeout=settings.shop_timeout_seconds)

    async def load_order(self, order_id: str) -> ShopOrder:
        order = await self._call("GET", f"/v1/orders/{order_id}")
        return ShopOrder(
            **_order_fields(order),
            lines=[ShopOrderLine(**_line_fields(line)) for line in order["lines"]],
            customer_return_count=order["customer_return_count"],
            payments=[ShopPayment(p["payment_intent_id"], p["amount"]) for p in order.get("payments", [])],
        )

    async def load_order_contact(self, order_id: str) -> OrderContact:
        order = await self._call("GET", f"/v1/orders/{order_id}")
        return OrderContact(email=order.get("customer_email"), postal_code=order.get("shipping_postal_code"))

    async def load_shopper_order(self, order_id: str) -> ShopperOrder:
        order = await self._call("GET", f"/v1/orders/{order_id}")
        return ShopperOrder(
            **_order_fields(order),
            lines=[
                ShopperOrderLine(**_line_fields(line), title=line.get("title") or line["sku"])
                for line in order["lines"]
            ],
            contact=OrderContact(email=order.get("customer_email"), postal_code=order.get("shipping_postal_code")),
            shipping_address=_address(order.get("shipping_address")),
            return_address=_address(order.get("return_address")),
        )

    async def quantities_in_returns(self, order_id: str) -> dict[str, int]:
        """Per line, the units the order's returns hold (reservations not released), whichever return."""
        held: dict[str, int] = {}
        for reservation in await self._call("GET", f"/v1/orders/{order_id}/return_reservations"):
            if not reservation["released"]:
                for line in reservation["lines"]:
                    held[line["line_id"]] = held.get(line["line_id"], 0) + line["reserved"]
        return held

    async def variants(self, sku: str) -> list[Variant]:
        """The product's variants (sizes, colours) with what is on hand; the SKU itself among them."""
        answer = await self._call("GET", f"/v1/products/{sku}/variants")
        return [Variant(sku=v["sku"], title=v["title"], on_hand=v["on_hand"]) for v in answer["variants"]]

    async def reserve_quantities(
        self, order_id: str, return_id: str, lines: list[tuple[str, int]], *, key: str
    ) -> list[ReservedLine]:
        """Holds the quantities for this return, clamped to what the order's other returns left."""
        reservation = await self._call(
            "POST",
            f"/v1/orders/{order_id}/return_reservations",
            body={"return_id": return_id, "lines": [{"line_id": line_id, "quantity": qty} for line_id, qty in lines]},
            key=key,
        )
        return [
            ReservedLine(line_id=line["line_id"], requested=line["requested"], reserved=line["reserved"])
            for line in reservation["lines"]
        ]

    async def return_was_reserved(self, order_id: str, return_id: str) -> bool:
        """Whether a return under this id ever reserved quantities of the order (released or not): the
        shop's lasting record that the id was used, beyond Temporal's retention of the return's history."""
        try:
            await self._call("GET", f"/v1/orders/{order_id}/return_reservations/{return_id}")
        except IntegrationError as error:
            if error.status == 404:
                return False
            raise
        return True

    async def release_quantities(self, order_id: str, return_id: str) -> None:
        await self._call("DELETE", f"/v1/orders/{order_id}/return_reservations/{return_id}")

    async def restock(self, sku: str, quantity: int, reference: str, *, key: str) -> Restock:
        restock = await self._call(
            "POST", "/v1/restocks", body={"sku": sku, "quantity": quantity, "reference": reference}, key=key
        )
        return Restock(restock_id=restock["id"], sku=restock["sku"], quantity=restock["quantity"])

    async def reverse_restock(self, restock_id: str, *, key: str) -> None:
        await self._call("POST", f"/v1/restocks/{restock_id}/reversal", key=key)

    async def open_work_order(
        self, disposition: str, return_id: str, line_id: str, sku: str, quantity: int, *, key: str
    ) -> str:
        """Opens the work order a disposition other than restock needs with the shop's partners; answers its id."""
        collection = WORK_ORDER_COLLECTIONS.get(disposition)
        if collection is None:
            raise ValueError(f"{disposition} has no work order; restock() puts units back on sale")
        body = {"return_id": return_id, "line_id": line_id, "sku": sku, "quantity": quantity}
        return (await self._call("POST", collection, body=body, key=key))["id"]

    async def issue_store_credit(
        self, customer_id: str, amount: int, currency: str, reference: str, *, key: str
    ) -> StoreCredit:
        credit = await self._call(
            "POST",
            "/v1/store_credits",
            body={"customer_id": customer_id, "amount": amount, "currency": currency, "reference": reference},
            key=key,
        )
        return StoreCredit(credit_id=credit["id"], amount=credit["amount"], currency=credit["currency"])

    async def order_exchange(
        self, order_id: str, customer_id: str, sku: str, quantity: int, reference: str, *, key: str
    ) -> ExchangeOrder:
        """Orders the replacement; an out-of-stock variant is an answer (no order), not a failure."""
        body = {
            "order_id": order_id,
            "customer_id": customer_id,
            "sku": sku,
            "quantity": quantity,
            "reference": reference,
        }
        try:
            exchange = await self._call("POST", "/v1/exchange_orders", body=body, key=key)
        except IntegrationError as error:
            if error.code != f"{VENDOR}.out_of_stock":
                raise
            return ExchangeOrder(exchange_order_id=None, sku=sku, quantity=quantity)
        return ExchangeOrder(exchange_order_id=exchange["id"], sku=exchange["sku"], quantity=exchange["quantity"])

    async def notify(self, customer_id: str, return_id: str, kind: str, detail: str, *, key: str) -> None:
        body = {"customer_id": customer_id, "return_id": return_id, "kind": kind, "detail": detail}
        await self._call("POST", "/v1/notifications", body=body, key=key)

    async def complete_work_order(self, work_order_id: str, completed_by: str, *, key: str) -> str:
        """Marks disposition work done; answers who confirmed it first (the platform keeps them)."""
        completion = await self._call(
            "POST", f"/v1/work_orders/{work_order_id}/completion", body={"completed_by": completed_by}, key=key
        )
        return completion["completed_by"]

    async def customers_with_email(self, email: str) -> list[str]:
        """The customer ids whose orders carry `email` (the shop's record; the returns hold no address)."""
        answer = await self._call("GET", "/v1/customers", params={"email": email})
        return [customer["customer_id"] for customer in answer]

    async def daily_sales(self, start: date, end: date) -> list[DailySales]:
        """Units sold per day and SKU with start <= day < end (at most 366 days)."""
        answer = await self._call("GET", "/v1/sales/daily", params={"start": start.isoformat(), "end": end.isoformat()})
        return [
            DailySales(date.fromisoformat(row["day"]), row["sku"], row.get("category"), row["currency"], row["units"])
            for row in answer
        ]

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        key: str | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """Sends one request; answers its JSON (None when empty) or raises a classified IntegrationError."""
        headers = {"Idempotency-Key": key} if key else None
        try:
            try:
                response = await self._http.request(method, path, json=body, headers=headers, params=params)
            except _STALE_CONNECTION:
                if method != "GET" and key is None:
                    raise
                # A pooled connection the platform had just closed (keep-alive races): the request
                # may be sent again at once, being a read or keyed.
                response = await self._http.request(method, path, json=body, headers=headers, params=params)
        except httpx.HTTPError as error:
            raise IntegrationError(VENDOR, "network", f"{type(error).__name__}: {error}", retryable=True) from error
        if response.is_error:
            raise _error_from(response)
        return response.json() if response.content else None


# What a kept-alive connection closed by the other side looks like: nothing of the request was
# answered (a timeout is not one of them: the platform may still be working on it).
_STALE_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.ConnectError)


def _order_fields(order: dict[str, Any]) -> dict[str, Any]:
    """What every view of an order has: whose, in which currency, delivered when."""
    delivered_at = datetime.fromisoformat(order["delivered_at"]) if order["delivered_at"] else None
    return {
        "order_id": order["order_id"],
        "customer_id": order["customer_id"],
        "currency": order["currency"],
        "delivered_at": delivered_at,
    }


def _line_fields(line: dict[str, Any]) -> dict[str, Any]:
    names = ("line_id", "sku", "category", "quantity", "unit_price", "returnable")
    return {name: line[name] for name in names}


def _address(fields: dict[str, Any] | None) -> ShopAddress | None:
    if not fields:
        return None
    known = ("name", "street1", "street2", "city", "state", "zip", "country", "phone")
    return ShopAddress(**{name: fields.get(name) for name in known})


def _error_from(response: httpx.Response) -> IntegrationError:
    """Classifies an error answer by its status and the API's error code; says what went wrong in words."""
    try:
        body = response.json()
    except ValueError:  # an error page from a proxy in front of the adapter, say
        body = None
    code = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), str) else None
    said = describe_error_body(body) if body is not None else response.text
    return IntegrationError(
        VENDOR,
        code or f"http_{response.status_code}",
        said or f"HTTP {response.status_code}",
        retryable=code not in _PERMANENT_ERRORS and is_retryable_status(response.status_code),
        status=response.status_code,
    )
