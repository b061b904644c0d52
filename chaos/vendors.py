"""The world around the returns system, played on the sandboxes: the shop's checkout, the carrier
scanning parcels (Shippo then posts `track_updated`), and Stripe settling refunds (then posting
`refund.*` events). Webhook bodies are built here and signed per delivery, as the vendors do.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import stripe

from chaos.scenarios import CURRENCY, ReturnPlan
from devstack.checkout import SHOPPER, WAREHOUSE, charge_shopper
from devstack.demo import shippo_signature
from integrations.settings import Settings
from integrations.shippo_webhooks import SIGNATURE_HEADER as SHIPPO_SIGNATURE_HEADER
from integrations.stripe_webhooks import SIGNATURE_HEADER as STRIPE_SIGNATURE_HEADER
from workflows.vocabulary import TrackingStatus

CHECKOUT_ATTEMPTS = 5

Signed = tuple[bytes, dict[str, str]]


class Vendors:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._stripe = httpx.AsyncClient(base_url=settings.stripe_base or "", timeout=30)
        self._shippo = httpx.AsyncClient(base_url=settings.shippo_base or "", timeout=30)
        self._shop = httpx.AsyncClient(base_url=settings.shop_api_base, timeout=30)

    async def aclose(self) -> None:
        for client in (self._stripe, self._shippo, self._shop):
            await client.aclose()

    def admin(self, vendor: str) -> httpx.AsyncClient:
        return {"stripe": self._stripe, "shippo": self._shippo, "shop": self._shop}[vendor]

    # --- The shop's checkout -------------------------------------------------------------------

    async def checkout(self, plan: ReturnPlan) -> dict[str, Any]:
        """The shop's checkout, tried again when a sandbox drops the connection (the run loads them
        hard; a checkout that never happened would count as a lost return). Seeding is idempotent;
        a second charge is a payment no return names."""
        attempt = 1
        while True:
            try:
                return await self._checkout(plan)
            except (httpx.TransportError, stripe.APIConnectionError):
                if attempt == CHECKOUT_ATTEMPTS:
                    raise
            await asyncio.sleep(attempt)
            attempt += 1

    async def _checkout(self, plan: ReturnPlan) -> dict[str, Any]:
        """Charges the shopper, seeds the order paid with that payment, stocks the exchange variants;
        answers the return request."""
        payment_intent = await charge_shopper(self.settings, plan.order_total)
        order = {
            "payments": [{"payment_intent_id": payment_intent, "amount": plan.order_total}],
            "order_id": plan.order_id,
            "customer_id": plan.customer_id,
            "currency": CURRENCY,
            "delivered_at": (datetime.now(UTC) - timedelta(days=3)).isoformat(),
            "lines": [
                {
                    "line_id": line.line_id,
                    "sku": line.product.sku,
                    "category": line.product.category,
                    "quantity": line.quantity,
                    "unit_price": line.product.unit_price,
                }
                for line in plan.lines
            ],
            "customer_return_count": 0,
        }
        (await self._shop.post("/_sandbox/orders", json=order)).raise_for_status()
        stock = {
            line.exchange_sku: line.quantity if plan.exchange_in_stock else 0
            for line in plan.lines
            if line.exchange_sku
        }
        if stock:
            (await self._shop.post("/_sandbox/stock", json=stock)).raise_for_status()
        if plan.refund_pending:
            outcome = {"status": "pending", "times": 1, "payment_intent": payment_intent}
            (await self._stripe.post("/_sandbox/refund_outcomes", json=outcome)).raise_for_status()
        return {
            "return_id": plan.return_id,
            "order_id": plan.order_id,
            "customer_id": plan.customer_id,
            "currency": CURRENCY,
            "payment_intent_id": payment_intent,
            "lines": [
                {
                    "line_id": line.line_id,
                    "sku": line.product.sku,
                    "quantity": line.quantity,
                    "unit_price": line.product.unit_price,
                    "reason": line.reason.value,
                    **({"exchange_sku": line.exchange_sku} if line.exchange_sku else {}),
                }
                for line in plan.lines
            ],
            "customer_address": SHOPPER.model_dump(exclude_none=True),
            "warehouse_address": WAREHOUSE.model_dump(exclude_none=True),
            "method": plan.method.value,
            "resolution": plan.resolution.value,
        }

    # --- The carrier and Shippo -------------------------------------------------------------------

    async def scan(self, tracking_number: str, status: TrackingStatus) -> dict[str, Any]:
        """The carrier scans the parcel; answers the `track_updated` body Shippo posts for that scan."""
        response = await self._shippo.post(f"/_sandbox/tracks/{tracking_number}/events", json={"status": status.value})
        return {"event": "track_updated", "test": True, "data": response.raise_for_status().json()}

    def shippo_delivery(self, body: dict[str, Any]) -> Signed:
        """A delivery of a webhook body as Shippo makes it: signed now (the signature carries a time)."""
        content = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        secret = self.settings.shippo_webhook_hmac_secret
        if secret is not None:
            headers[SHIPPO_SIGNATURE_HEADER] = shippo_signature(content, secret.get_secret_value())
        return content, headers

    @property
    def shippo_params(self) -> dict[str, str]:
        token = self.settings.shippo_webhook_token
        return {"token": token.get_secret_value()} if token else {}

    # --- Stripe ----------------------------------------------------------------------------------

    async def refunds_of(self, payment_intent: str) -> list[dict[str, Any]]:
        response = await self._stripe.get("/_sandbox/refunds", params={"payment_intent": payment_intent})
        return response.raise_for_status().json()

    async def settle_refund(self, refund_id: str) -> dict[str, Any]:
        """Stripe settles a pending refund (as the bank answers); answers the refund as it now is."""
        response = await self._stripe.post(f"/_sandbox/refunds/{refund_id}/transition", json={"status": "succeeded"})
        return response.raise_for_status().json()

    def stripe_delivery(self, refund: dict[str, Any], event_type: str) -> Signed:
        """A Stripe event about `refund` as it was then, signed now with the endpoint's secret."""
        digest = hashlib.sha256(f"{refund['id']}|{refund['status']}|{event_type}".encode()).hexdigest()[:24]
        event = {
            "id": f"evt_{digest}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": refund},
        }
        content = json.dumps(event).encode()
        secret = self.settings.stripe_webhook_secret
        signature = stripe.WebhookSignature.generate_signature_header(
            content.decode(), secret.get_secret_value() if secret else ""
        )
        return content, {"Content-Type": "application/json", STRIPE_SIGNATURE_HEADER: signature}
