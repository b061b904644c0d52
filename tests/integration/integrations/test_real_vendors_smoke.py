"""The integrations against Stripe and Shippo themselves, in test mode; skipped without test keys.

    STRIPE_API_KEY=sk_test_... SHIPPO_API_TOKEN=shippo_test_... pytest tests/integrations/test_real_vendors_smoke.py

Live keys are never used: the markers below require the test-mode prefixes.
"""

from __future__ import annotations

import os
import uuid

import pytest

from devstack.checkout import charge_shopper
from integrations.settings import Settings
from integrations.shippo_labels import ShippoLabels
from integrations.stripe_payments import StripePayments
from tests.integration.integrations.shippo_requests import buy_label, label_request
from workflows.contract import label_metadata

STRIPE_KEY = os.environ.get("STRIPE_API_KEY", "")
SHIPPO_TOKEN = os.environ.get("SHIPPO_API_TOKEN", "")

needs_stripe = pytest.mark.skipif(not STRIPE_KEY.startswith("sk_test_"), reason="STRIPE_API_KEY=sk_test_... not set")
needs_shippo = pytest.mark.skipif(
    not SHIPPO_TOKEN.startswith("shippo_test_"), reason="SHIPPO_API_TOKEN=shippo_test_... not set"
)


@needs_stripe
async def test_stripe_test_payment_is_refunded() -> None:
    settings = Settings(vendor_mode="live", stripe_api_key=STRIPE_KEY, stripe_api_base=None)
    payments = StripePayments(settings)
    payment = await charge_shopper(settings, 2000)
    return_id = f"smoke-{uuid.uuid4().hex[:12]}"
    key = f"return:{return_id}:refund:1"
    refund = await payments.refund(payment, 1500, "USD", idempotency_key=key, metadata={"return_id": return_id})
    assert (refund.amount, refund.currency) == (1500, "USD")
    assert refund.status in {"pending", "succeeded"}
    again = await payments.refund(payment, 1500, "USD", idempotency_key=key, metadata={"return_id": return_id})
    assert again == refund  # found again by its idempotency key
    assert (await payments.get_refund(refund.refund_id)).refund_id == refund.refund_id


@needs_shippo
async def test_shippo_test_label_is_bought_tracked_and_voided() -> None:
    labels = ShippoLabels(Settings(vendor_mode="live", shippo_api_token=SHIPPO_TOKEN, shippo_api_base=None))
    request = label_request()
    label = await buy_label(labels, request, look_for_earlier_purchase=False)
    assert label.tracking_number and (label.label_url or label.qr_code_url)
    found = await buy_label(labels, request, look_for_earlier_purchase=True)
    assert found.transaction_id == label.transaction_id
    # Shippo's test carrier answers for these tracking numbers in test mode.
    await labels.register_tracking("shippo", "SHIPPO_TRANSIT", metadata=label_metadata(request.return_id))
    receipt = await labels.void_label(label.transaction_id)
    assert receipt.status in {"QUEUED", "PENDING", "SUCCESS"}
