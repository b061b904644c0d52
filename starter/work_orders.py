"""Closing disposition work orders on the shop platform: the warehouse confirms work done.

The worker opens work orders through `integrations.shop.ShopPlatform`; confirming one is
a door's job (the warehouse app asks for it), so it lives here, on the same shop platform
API v1: `POST /v1/work_orders/{id}/completion {completed_by}` with an `Idempotency-Key`.
The key is derived from the return, the line and the confirmer, so a repeated confirmation
is replayed, not recorded twice; the platform keeps the first confirmer when a second
person confirms the same work.
"""

from __future__ import annotations

import httpx

from integrations.errors import IntegrationError, is_retryable_status
from integrations.settings import Settings
from integrations.shop import VENDOR, line_step_key


class WorkOrders:
    def __init__(self, settings: Settings):
        self._http = httpx.AsyncClient(base_url=settings.shop_api_base, timeout=settings.shop_timeout_seconds)

    async def complete(self, return_id: str, line_id: str, work_order_id: str, completed_by: str) -> str:
        """Marks the work order done; answers who confirmed it first. Raises IntegrationError."""
        try:
            response = await self._http.post(
                f"/v1/work_orders/{work_order_id}/completion",
                json={"completed_by": completed_by},
                headers={"Idempotency-Key": line_step_key(return_id, line_id, f"completion:{completed_by}")},
            )
        except httpx.HTTPError as error:
            raise IntegrationError(VENDOR, "network", f"{type(error).__name__}: {error}", retryable=True) from error
        if response.is_error:
            status = response.status_code
            raise IntegrationError(
                VENDOR, f"http_{status}", response.text[:500], retryable=is_retryable_status(status), status=status
            )
        return response.json()["completed_by"]

    async def aclose(self) -> None:
        await self._http.aclose()
