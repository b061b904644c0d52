"""The shop's inventory service: puts returned units back on sale.

A plain JSON HTTP API (the local sandbox implements it; a shop points
`INVENTORY_API_BASE` at its own service or an adapter to its WMS). Every restock
carries an idempotency key, so a retried activity never restocks twice.
"""

from __future__ import annotations

import httpx

from integrations.errors import IntegrationError, is_retryable_status
from integrations.settings import Settings
from workflows.models import RestockReceipt, RestockRequest


def restock_idempotency_key(request: RestockRequest) -> str:
    return f"return:{request.return_id}:line:{request.line_id}:restock"


class InventoryService:
    def __init__(self, settings: Settings):
        self._http = httpx.AsyncClient(base_url=settings.inventory_api_base, timeout=settings.inventory_timeout_seconds)

    async def restock(self, request: RestockRequest) -> RestockReceipt:
        try:
            response = await self._http.post(
                "/v1/restocks",
                json={"sku": request.sku, "quantity": request.quantity, "reference": request.return_id},
                headers={"Idempotency-Key": restock_idempotency_key(request)},
            )
        except httpx.HTTPError as error:
            raise IntegrationError("inventory", "network", str(error), retryable=True) from error
        if response.is_error:
            raise IntegrationError(
                "inventory",
                f"http_{response.status_code}",
                response.text[:500],
                retryable=is_retryable_status(response.status_code),
                status=response.status_code,
            )
        body = response.json()
        return RestockReceipt(restock_id=body["id"], sku=body["sku"], quantity=body["quantity"])

    async def aclose(self) -> None:
        await self._http.aclose()
