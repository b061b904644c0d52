"""SIGTERM to a worker while Stripe is refunding: the worker stops taking work, gives the running refund
WORKER_GRACEFUL_SHUTDOWN_SECONDS, then hands it back; another worker finishes the return and the
shopper is paid exactly once (the Stripe sandbox's own ledger)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from devstack.checkout import DEMO_GRADES, checkout
from devstack.polling import wait_for_stage
from devstack.stack import LocalStack, Ports
from workflows.models import CarrierScan, InspectionReport, LineInspection
from workflows.vocabulary import Stage, TrackingStatus

pytestmark = pytest.mark.devserver

GRACE_SECONDS = 2
HELD_SECONDS = 8  # Stripe refunds at once and answers after this: longer than the grace


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with LocalStack(
        ports=Ports.free(),
        ui=False,
        api=False,
        log_dir=tmp_path_factory.mktemp("graceful"),
        overrides={"worker_graceful_shutdown_seconds": GRACE_SECONDS},
    ) as stack:
        yield stack


async def _refunds(stack: LocalStack, return_id: str) -> list[dict]:
    async with httpx.AsyncClient(timeout=10) as http:
        refunds = (await http.get(f"{stack.sandbox_url('stripe')}/_sandbox/refunds")).json()
    return [r for r in refunds if r["metadata"].get("return_id") == return_id]


async def test_sigterm_during_a_refund_loses_nothing_and_pays_once(stack: LocalStack) -> None:
    client = await stack.client()
    request = await checkout(client.settings, "GRACEFUL-1")
    await client.start(request)
    status = await wait_for_stage(client, "GRACEFUL-1", Stage.label_issued)
    for n, scan in enumerate((TrackingStatus.transit, TrackingStatus.delivered)):
        await client.record_carrier_scan(
            "GRACEFUL-1", CarrierScan(event_id=f"g-{n}", status=scan, occurred_at=status.timeline[-1].at)
        )
    await wait_for_stage(client, "GRACEFUL-1", Stage.delivered)
    fault = {"method": "POST", "path": "/v1/refunds", "after": True, "delay_seconds": HELD_SECONDS, "times": 1}
    async with httpx.AsyncClient(timeout=10) as http:
        (await http.post(f"{stack.sandbox_url('stripe')}/_sandbox/faults", json=fault)).raise_for_status()
    inspection = InspectionReport(
        inspector="dock-1", lines=[LineInspection(line_id=k, grade=v) for k, v in DEMO_GRADES.items()]
    )
    await client.record_inspection("GRACEFUL-1", inspection)
    for _ in range(600):  # until Stripe has refunded (its answer is held)
        if await _refunds(stack, "GRACEFUL-1"):
            break
        await asyncio.sleep(0.05)

    asked = time.monotonic()
    await asyncio.to_thread(stack.kill_workers, signal.SIGTERM)
    stopped_after = time.monotonic() - asked
    assert GRACE_SECONDS <= stopped_after < HELD_SECONDS, "it waited out the grace, then handed the refund back"
    stack.start_worker()

    final = await wait_for_stage(client, "GRACEFUL-1", Stage.completed, timeout=90)
    refunds = await _refunds(stack, "GRACEFUL-1")
    assert [(r["id"], r["amount"]) for r in refunds] == [(final.refund.refund_id, 2 * 2500 - 599)]
    logs = (stack.log_dir / "worker.log").read_text()
    assert "worker stopping" in logs and "worker stopped" in logs
