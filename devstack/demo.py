"""One demo return, walked through the doors by playing shop, carrier and warehouse.

Used by `make run` (after the stack is up) and by the end-to-end tests. The shop and the
warehouse call the HTTP API with their role's key; the carrier's scans arrive as signed
Shippo webhooks. Before that it plays the shop's checkout on the sandboxes: it seeds the
order in the shop sandbox and charges the shopper in the Stripe sandbox.

    python -m devstack.demo checkout R-1001 > request.json   # against `make run`'s stack: an order, paid
    python -m devstack.demo scan R-1001 DELIVERED             # the carrier's scan, as Shippo posts it
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from api.auth import key_hash
from devstack.checkout import DEMO_GRADES, DEMO_LINES, checkout
from devstack.polling import wait_for_stage
from integrations.settings import Settings
from integrations.shippo_webhooks import SIGNATURE_HEADER as SHIPPO_SIGNATURE_HEADER
from workflows.models import ReturnStatus
from workflows.vocabulary import Stage, TrackingStatus

if TYPE_CHECKING:
    from devstack.stack import LocalStack


async def run_demo(settings: Settings, api_url: str, *, return_id: str | None = None) -> ReturnStatus:
    """Seeds an order and charges the shopper (the shop's checkout), then drives one return through
    the doors: the storefront and the warehouse over HTTP, the carrier through signed Shippo webhooks."""
    return_id = return_id or f"DEMO-{datetime.now(UTC):%Y%m%d%H%M%S}"
    request = await checkout(settings, return_id)
    storefront = role_headers(settings, "storefront", "shop-web")
    warehouse = role_headers(settings, "warehouse", "dock-7")
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as api:
        returns = ApiReturns(api, storefront)
        (await api.post("/v1/returns", json=request.model_dump(mode="json"), headers=storefront)).raise_for_status()
        status = await wait_for_stage(returns, return_id, Stage.label_issued)
        if status.label is None:
            raise RuntimeError(f"demo return {return_id} ended {status.stage.value} before its label")
        for scan in (TrackingStatus.pre_transit, TrackingStatus.transit, TrackingStatus.delivered):
            await carrier_reports(api, settings, status.label.tracking_number, scan)
        await wait_for_stage(returns, return_id, Stage.delivered)
        receipt = {
            "receipt_id": f"{return_id}-P1",
            "lines": [{"line_id": line.line_id, "quantity": line.quantity} for line in DEMO_LINES],
        }
        (await api.post(f"/v1/returns/{return_id}/receipts", json=receipt, headers=warehouse)).raise_for_status()
        inspection = {"lines": [{"line_id": line_id, "grade": grade.value} for line_id, grade in DEMO_GRADES.items()]}
        (await api.post(f"/v1/returns/{return_id}/inspection", json=inspection, headers=warehouse)).raise_for_status()
        return await wait_for_stage(returns, return_id, Stage.completed)


def role_headers(settings: Settings, role: str, actor: str | None = None) -> dict[str, str]:
    """The headers a caller in `role` sends: the first key of that role the settings admit (the local
    stack's own, else the one shared key of the role) and, for a system's key, whom it acts for."""
    from devstack.stack import LOCAL_KEYS

    shared: SecretStr | None = getattr(settings, f"api_key_{role}")
    if shared is not None:
        return {"X-API-Key": shared.get_secret_value()} | ({"X-Actor": actor} if actor else {})
    for key, grant in LOCAL_KEYS.items():
        if grant.role == role and grant.shop is None and key_hash(key) in settings.api_keys:
            return {"X-API-Key": key} | ({"X-Actor": actor} if actor and grant.system else {})
    raise RuntimeError(f"no {role} key is configured")


class ApiReturns:
    """A return's status read through the HTTP API, as a storefront would."""

    def __init__(self, api: httpx.AsyncClient, headers: dict[str, str]):
        self._api = api
        self._headers = headers

    async def status(self, return_id: str) -> ReturnStatus:
        response = await self._api.get(f"/v1/returns/{return_id}", headers=self._headers)
        return ReturnStatus.model_validate_json(response.raise_for_status().content)


async def carrier_reports(
    api: httpx.AsyncClient, settings: Settings, tracking_number: str, scan: TrackingStatus
) -> None:
    """The carrier scans the parcel (in the Shippo sandbox); Shippo posts the track to our webhook."""
    async with httpx.AsyncClient(base_url=settings.shippo_base or "", timeout=10) as shippo:
        response = await shippo.post(f"/_sandbox/tracks/{tracking_number}/events", json={"status": scan.value})
        track = response.raise_for_status().json()
    response = await post_shippo_webhook(api, settings, {"event": "track_updated", "test": True, "data": track})
    response.raise_for_status()


async def post_shippo_webhook(api: httpx.AsyncClient, settings: Settings, payload: dict[str, Any]) -> httpx.Response:
    """Posts a webhook the way Shippo does: the secret token in the URL, the body signed when a secret is set."""
    body = json.dumps(payload).encode()
    token, secret = settings.shippo_webhook_token, settings.shippo_webhook_hmac_secret
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SHIPPO_SIGNATURE_HEADER] = shippo_signature(body, secret.get_secret_value())
    params = {"token": token.get_secret_value()} if token else None
    return await api.post("/v1/webhooks/shippo", content=body, headers=headers, params=params)


def shippo_signature(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """A `Shippo-Auth-Signature` header value: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def print_outcome(status: ReturnStatus) -> None:
    print(f"\nReturn {status.return_id} (order {status.order_id}): {status.stage.value}")
    for entry in status.timeline:
        print(f"  {entry.at:%H:%M:%S}  {entry.stage.value:<13} {entry.actor:<18} {entry.detail}")
    if status.label:
        print(f"Label: {status.label.label_url} (tracking {status.label.tracking_number})")
    if refund := status.refund:
        print(f"Refund: {refund.refund_id}, {refund.amount} {refund.currency} ({refund.status.value})")


async def _scan(stack: LocalStack, return_id: str, scan: TrackingStatus) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as api:
        headers = role_headers(stack.settings, "storefront", "shop-web")
        response = await api.get(f"/v1/returns/{return_id}", headers=headers)
        status = ReturnStatus.model_validate_json(response.raise_for_status().content)
        if status.label is None:
            raise SystemExit(f"return {return_id} has no label ({status.stage.value})")
        await carrier_reports(api, stack.settings, status.label.tracking_number, scan)


def main() -> None:
    """Plays the shop's checkout or the carrier against the `make run` stack, to try the API by hand."""
    from devstack.stack import LocalStack

    parser = argparse.ArgumentParser(description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("checkout", help="seed and pay an order; print the request that returns it").add_argument(
        "return_id"
    )
    scan = commands.add_parser("scan", help="the carrier scans the return's parcel; Shippo posts the webhook")
    scan.add_argument("return_id")
    scan.add_argument("status", type=TrackingStatus, choices=list(TrackingStatus), metavar="STATUS")
    args = parser.parse_args()
    stack = LocalStack()  # its ports and keys; nothing is started
    if args.command == "checkout":
        print(asyncio.run(checkout(stack.settings, args.return_id)).model_dump_json(indent=2))
    else:
        asyncio.run(_scan(stack, args.return_id, args.status))


if __name__ == "__main__":
    main()
