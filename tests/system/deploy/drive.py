"""The demo's return (starter/demo.py), driven through the API by callers that retry like real ones.

`run_demo` stops at the first failed request; here the shop, the carrier and the warehouse retry a
request that got no answer or "try again" (502/503/504), as they would while an API process or the
Temporal server is being restarted. Every door retried is idempotent (a return id, a receipt id,
duplicate webhooks); the inspection answers 409 once recorded, so a 409 after a lost answer counts
as done when the return has moved past the step.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from devstack.checkout import DEMO_GRADES, DEMO_LINES, checkout
from devstack.demo import post_shippo_webhook, role_headers
from devstack.polling import has_reached
from integrations.settings import Settings
from workflows.models import ReturnRequest, ReturnStatus
from workflows.vocabulary import Stage, TrackingStatus

RETRYABLE = {502, 503, 504}
RETRY_FOR_SECONDS = 120.0


async def drive_return(settings: Settings, api_url: str, return_id: str, timeout: float = 240) -> ReturnStatus:
    request = await checkout(settings, return_id)
    return await asyncio.wait_for(_drive(settings, api_url, request), timeout)


async def _drive(settings: Settings, api_url: str, request: ReturnRequest) -> ReturnStatus:
    return_id = request.return_id
    storefront = role_headers(settings, "storefront", "shop-web")
    warehouse = role_headers(settings, "warehouse", "dock-7")
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as api:
        await _post(api, "/v1/returns", storefront, json=request.model_dump(mode="json"))
        status = await wait_for_stage(api, return_id, Stage.label_issued, storefront)
        assert status.label is not None, f"{return_id} ended {status.stage.value} before its label"
        for scan in (TrackingStatus.pre_transit, TrackingStatus.transit, TrackingStatus.delivered):
            await _carrier_scans(api, settings, status.label.tracking_number, scan)
        await wait_for_stage(api, return_id, Stage.delivered, storefront)
        receipt = {
            "receipt_id": f"{return_id}-P1",
            "lines": [{"line_id": line.line_id, "quantity": line.quantity} for line in DEMO_LINES],
        }
        await _post(api, f"/v1/returns/{return_id}/receipts", warehouse, json=receipt)
        inspection = {"lines": [{"line_id": line_id, "grade": grade.value} for line_id, grade in DEMO_GRADES.items()]}
        inspected = (return_id, Stage.inspecting)
        await _post(api, f"/v1/returns/{return_id}/inspection", warehouse, json=inspection, done_at=inspected)
        return await wait_for_stage(api, return_id, Stage.completed, storefront)


async def _carrier_scans(api: httpx.AsyncClient, settings: Settings, tracking: str, scan: TrackingStatus) -> None:
    """The scan is recorded once in the Shippo sandbox; its webhook is delivered until it is taken."""
    async with httpx.AsyncClient(base_url=settings.shippo_base or "", timeout=10) as shippo:
        response = await shippo.post(f"/_sandbox/tracks/{tracking}/events", json={"status": scan.value})
        track = response.raise_for_status().json()
    payload = {"event": "track_updated", "test": True, "data": track}
    await _retrying(lambda: post_shippo_webhook(api, settings, payload))


async def _post(
    api: httpx.AsyncClient,
    path: str,
    headers: dict[str, str],
    json: Any,
    done_at: tuple[str, Stage] | None = None,
) -> None:
    attempts = 0

    async def once() -> httpx.Response:
        nonlocal attempts
        attempts += 1
        response = await api.post(path, json=json, headers=headers)
        if response.status_code == 409 and attempts > 1 and done_at is not None:
            status = await _status(api, done_at[0], headers)
            if status is not None and has_reached(status.stage, done_at[1]):
                return httpx.Response(202, request=response.request)  # our lost attempt went through
        return response

    await _retrying(once)


async def _retrying(call: Any) -> httpx.Response:
    deadline = asyncio.get_running_loop().time() + RETRY_FOR_SECONDS
    while True:
        try:
            response = await call()
            if response.status_code not in RETRYABLE:
                return response.raise_for_status()
        except httpx.TransportError:
            pass  # no answer: the process behind the connection died or the balancer had none to offer
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"no answer after retrying for {RETRY_FOR_SECONDS} s")
        await asyncio.sleep(0.5)


async def _status(api: httpx.AsyncClient, return_id: str, headers: dict[str, str]) -> ReturnStatus | None:
    try:
        response = await api.get(f"/v1/returns/{return_id}", headers=headers)
    except httpx.TransportError:
        return None
    if response.status_code in RETRYABLE:
        return None
    return ReturnStatus.model_validate_json(response.raise_for_status().content)


async def wait_for_stage(
    api: httpx.AsyncClient, return_id: str, stage: Stage, headers: dict[str, str], timeout: float = 180
) -> ReturnStatus:
    """Like the demo's, through outages: polls the status until the return reaches `stage`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await _status(api, return_id, headers)
        if status is not None and has_reached(status.stage, stage):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"return {return_id} still {status.stage.value if status else '?'} after {timeout} s")
        await asyncio.sleep(0.3)
