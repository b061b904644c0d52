"""The shop platform: the shop's own backend, behind a small versioned JSON HTTP API.

A shop points `SHOP_API_BASE` at an adapter to its platform; locally the sandbox
(`integrations.sandboxes.shop_sandbox`) stands in. The API, version 1:

    GET    /v1/orders/{order_id}                                   order facts
    POST   /v1/orders/{order_id}/return_reservations               {return_id, lines: [{line_id, quantity}]}
    DELETE /v1/orders/{order_id}/return_reservations/{return_id}   release (204, also when absent)
    GET    /v1/stock/{sku}                                         {sku, on_hand}
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

Every POST carries an `Idempotency-Key`: the same key and body replay the first answer
without a second effect, the same key with another body is a 409 `idempotency_key_reused`.
Keys here are derived from the return and the step, never random, so a retried activity
sends the same key. Errors are `{"error": code, "message": ...}`; `code` becomes the
IntegrationError's (`shop.order_not_found`, `shop.out_of_stock`, ...).
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from integrations.errors import IntegrationError, is_retryable_status
from integrations.settings import Settings
from workflows.models import (
    Disposition,
    DispositionReceipt,
    DispositionRequest,
    ExchangeReceipt,
    ExchangeRequest,
    OrderFacts,
    OrderLine,
    QuantityReservation,
    ReservationLine,
    RestockReceipt,
    RestockRequest,
    RestockReversal,
    ShopperNotification,
    StoreCreditReceipt,
    StoreCreditRequest,
)

VENDOR = "shop"

# Answers no retry can change, although their status (409) usually means "try again".
_PERMANENT_ERRORS = frozenset({"idempotency_key_reused", "out_of_stock"})

_WORK_ORDER_PATHS: dict[Disposition, str] = {
    Disposition.refurbish: "/v1/refurbishment_orders",
    Disposition.liquidate: "/v1/liquidation_items",
    Disposition.recycle: "/v1/recycling_orders",
    Disposition.return_to_vendor: "/v1/vendor_rmas",
    Disposition.donate: "/v1/donations",
    Disposition.destroy: "/v1/destructions",
}


def step_key(return_id: str, step: str) -> str:
    return f"return:{return_id}:{step}"


def line_step_key(return_id: str, line_id: str, step: str) -> str:
    return step_key(return_id, f"line:{line_id}:{step}")


def restock_idempotency_key(request: RestockRequest) -> str:
    return line_step_key(request.return_id, request.line_id, "restock")


def notification_idempotency_key(notification: ShopperNotification) -> str:
    # The detail's digest is part of the key: a retry repeats it exactly, while a second,
    # different message of the same kind (a replacement label, say) is still sent.
    digest = hashlib.sha256(notification.detail.encode()).hexdigest()[:16]
    return step_key(notification.return_id, f"notify:{notification.kind.value}:{digest}")


class ShopPlatform:
    def __init__(self, settings: Settings):
        self._http = httpx.AsyncClient(base_url=settings.shop_api_base, timeout=settings.shop_timeout_seconds)

    async def load_order(self, order_id: str) -> OrderFacts:
        order = await self._call("GET", f"/v1/orders/{order_id}")
        return OrderFacts(
            order_id=order["order_id"],
            customer_id=order["customer_id"],
            currency=order["currency"],
            delivered_at=order["delivered_at"],
            lines=[
                OrderLine(
                    line_id=line["line_id"],
                    sku=line["sku"],
                    category=line["category"],
                    quantity=line["quantity"],
                    unit_price=line["unit_price"],
                    returnable=line["returnable"],
                )
                for line in order["lines"]
            ],
            customer_return_count=order["customer_return_count"],
        )

    async def reserve_quantities(
        self, order_id: str, return_id: str, lines: list[tuple[str, int]]
    ) -> QuantityReservation:
        """Holds the quantities for this return, clamped to what the order's other returns left."""
        reservation = await self._call(
            "POST",
            f"/v1/orders/{order_id}/return_reservations",
            body={"return_id": return_id, "lines": [{"line_id": line_id, "quantity": qty} for line_id, qty in lines]},
            key=step_key(return_id, "reserve"),
        )
        return QuantityReservation(
            return_id=reservation["return_id"],
            lines=[
                ReservationLine(line_id=line["line_id"], requested=line["requested"], reserved=line["reserved"])
                for line in reservation["lines"]
            ],
        )

    async def release_quantities(self, order_id: str, return_id: str) -> None:
        await self._call("DELETE", f"/v1/orders/{order_id}/return_reservations/{return_id}")

    async def restock(self, request: RestockRequest) -> RestockReceipt:
        restock = await self._call(
            "POST",
            "/v1/restocks",
            body={"sku": request.sku, "quantity": request.quantity, "reference": request.return_id},
            key=restock_idempotency_key(request),
        )
        return RestockReceipt(restock_id=restock["id"], sku=restock["sku"], quantity=restock["quantity"])

    async def reverse_restock(self, reversal: RestockReversal) -> None:
        await self._call(
            "POST",
            f"/v1/restocks/{reversal.restock_id}/reversal",
            key=line_step_key(reversal.return_id, reversal.line_id, "restock_reversal"),
        )

    async def dispose(self, request: DispositionRequest) -> DispositionReceipt:
        """Opens the work order a disposition other than restock needs with the shop's partners."""
        path = _WORK_ORDER_PATHS.get(request.disposition)
        if path is None:
            raise ValueError(f"{request.disposition} has no work order; restock() puts units back on sale")
        work_order = await self._call(
            "POST",
            path,
            body={
                "return_id": request.return_id,
                "line_id": request.line_id,
                "sku": request.sku,
                "quantity": request.quantity,
            },
            key=line_step_key(request.return_id, request.line_id, request.disposition.value),
        )
        return DispositionReceipt(work_order_id=work_order["id"], disposition=request.disposition)

    async def issue_store_credit(self, request: StoreCreditRequest) -> StoreCreditReceipt:
        credit = await self._call(
            "POST",
            "/v1/store_credits",
            body={
                "customer_id": request.customer_id,
                "amount": request.amount,
                "currency": request.currency,
                "reference": request.return_id,
            },
            key=request.idempotency_key,
        )
        return StoreCreditReceipt(credit_id=credit["id"], amount=credit["amount"], currency=credit["currency"])

    async def order_exchange(self, request: ExchangeRequest) -> ExchangeReceipt:
        """Orders the replacement; an out-of-stock variant is an answer (no order), not a failure."""
        try:
            exchange = await self._call(
                "POST",
                "/v1/exchange_orders",
                body={
                    "order_id": request.order_id,
                    "customer_id": request.customer_id,
                    "sku": request.sku,
                    "quantity": request.quantity,
                    "reference": request.return_id,
                },
                key=request.idempotency_key,
            )
        except IntegrationError as error:
            if error.code != f"{VENDOR}.out_of_stock":
                raise
            return ExchangeReceipt(exchange_order_id=None, sku=request.sku, quantity=request.quantity)
        return ExchangeReceipt(exchange_order_id=exchange["id"], sku=exchange["sku"], quantity=exchange["quantity"])

    async def notify(self, notification: ShopperNotification) -> None:
        await self._call(
            "POST",
            "/v1/notifications",
            body={
                "customer_id": notification.customer_id,
                "return_id": notification.return_id,
                "kind": notification.kind.value,
                "detail": notification.detail,
            },
            key=notification_idempotency_key(notification),
        )

    async def complete_work_order(self, return_id: str, line_id: str, work_order_id: str, completed_by: str) -> str:
        """Marks disposition work done; answers who confirmed it first (the platform keeps them).

        The key is derived from the return, the line and the confirmer, so a repeated
        confirmation is replayed, not recorded twice.
        """
        completion = await self._call(
            "POST",
            f"/v1/work_orders/{work_order_id}/completion",
            body={"completed_by": completed_by},
            key=line_step_key(return_id, line_id, f"completion:{completed_by}"),
        )
        return completion["completed_by"]

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, *, body: dict[str, Any] | None = None, key: str | None = None) -> Any:
        """Sends one request; answers its JSON (None when empty) or raises a classified IntegrationError."""
        headers = {"Idempotency-Key": key} if key else None
        try:
            response = await self._http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as error:
            raise IntegrationError(VENDOR, "network", f"{type(error).__name__}: {error}", retryable=True) from error
        if response.is_error:
            raise _error_from(response)
        return response.json() if response.content else None


def _error_from(response: httpx.Response) -> IntegrationError:
    """Classifies an error answer by its status and the API's error code, keeping the body for operators."""
    code = _error_code(response)
    return IntegrationError(
        VENDOR,
        code or f"http_{response.status_code}",
        response.text[:500],
        retryable=code not in _PERMANENT_ERRORS and is_retryable_status(response.status_code),
        status=response.status_code,
    )


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:  # an error page from a proxy in front of the adapter, say
        return None
    code = body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None
