"""The integrations against Stripe and Shippo themselves, in test mode; skipped without test keys.

    STRIPE_API_KEY=sk_test_... SHIPPO_API_TOKEN=shippo_test_... pytest tests/integrations/test_real_vendors_smoke.py

Live keys are never used: the markers below require the test-mode prefixes.
"""

from __future__ import annotations

import os
import uuid

import pytest

from integrations.settings import Settings
from integrations.shippo_labels import ShippoLabels
from integrations.stripe_payments import StripePayments
from tests.integrations.shippo_requests import label_request
from workflows.models import LabelVoid, RefundRequest, RefundState, TrackingRegistration

STRIPE_KEY = os.environ.get("STRIPE_API_KEY", "")
SHIPPO_TOKEN = os.environ.get("SHIPPO_API_TOKEN", "")

needs_stripe = pytest.mark.skipif(not STRIPE_KEY.startswith("sk_test_"), reason="STRIPE_API_KEY=sk_test_... not set")
needs_shippo = pytest.mark.skipif(
    not SHIPPO_TOKEN.startswith("shippo_test_"), reason="SHIPPO_API_TOKEN=shippo_test_... not set"
)


@needs_stripe
async def test_stripe_test_payment_is_refunded() -> None:
    payments = StripePayments(Settings(stripe_api_key=STRIPE_KEY, stripe_api_base=None))
    payment = await payments.create_test_payment(2000, "USD")
    return_id = f"smoke-{uuid.uuid4().hex[:12]}"
    request = RefundRequest(
        return_id=return_id,
        order_id="smoke-order",
        payment_intent_id=payment,
        amount=1500,
        currency="USD",
        idempotency_key=f"return:{return_id}:refund:1",
    )
    receipt = await payments.refund(request)
    assert (receipt.amount, receipt.currency) == (1500, "USD")
    assert receipt.status in {RefundState.pending, RefundState.succeeded}
    assert await payments.refund(request) == receipt  # found again by its idempotency key
    assert (await payments.get_refund(receipt.refund_id)).refund_id == receipt.refund_id


@needs_shippo
async def test_shippo_test_label_is_bought_tracked_and_voided() -> None:
    labels = ShippoLabels(Settings(shippo_api_token=SHIPPO_TOKEN, shippo_api_base=None))
    request = label_request()
    label = await labels.buy_return_label(request, look_for_earlier_purchase=False)
    assert label.tracking_number and (label.label_url or label.qr_code_url)
    found = await labels.buy_return_label(request, look_for_earlier_purchase=True)
    assert found.transaction_id == label.transaction_id
    # Shippo's test carrier answers for these tracking numbers in test mode.
    await labels.register_tracking(
        TrackingRegistration(return_id=request.return_id, carrier="shippo", tracking_number="SHIPPO_TRANSIT")
    )
    receipt = await labels.void_label(LabelVoid(return_id=request.return_id, transaction_id=label.transaction_id))
    assert receipt.status in {"QUEUED", "PENDING", "SUCCESS"}
