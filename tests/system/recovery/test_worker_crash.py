"""A worker killed (SIGKILL) in the middle of a money or label step loses nothing and never
pays or buys twice: real dev server, real worker process, the sandboxes as the vendors."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from devstack.checkout import DEMO_GRADES, charge_shopper, demo_order, demo_request, seed_order
from devstack.polling import wait_for_stage
from devstack.stack import LocalStack, Ports
from starter.client import ReturnsClient
from workflows.models import CarrierScan, InspectionReport, LineInspection
from workflows.vocabulary import Stage, TrackingStatus

pytestmark = pytest.mark.devserver

# The answer is held back long enough to kill the worker while the vendor already acted.
HOLD_SECONDS = 5
# The lost attempt is retried once its heartbeat timeout (15 s) has passed.
RECOVERY = timedelta(seconds=60)


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    log_dir: Path = tmp_path_factory.mktemp("crash")
    async with LocalStack(ports=Ports.free(), ui=False, log_dir=log_dir) as stack:
        yield stack


async def _until(probe: Callable[[], bool], timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not probe():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the vendor never saw the call")
        await asyncio.sleep(0.05)


def _admin(stack: LocalStack, vendor: str, path: str) -> list[dict]:
    return httpx.get(f"{stack.sandbox_url(vendor)}{path}", timeout=10).json()


def _hold_next_answer(stack: LocalStack, vendor: str, method: str, path: str) -> None:
    fault = {"method": method, "path": path, "after": True, "delay_seconds": HOLD_SECONDS}
    httpx.post(f"{stack.sandbox_url(vendor)}/_sandbox/faults", json=fault, timeout=10).raise_for_status()


async def _start(stack: LocalStack, client: ReturnsClient, return_id: str) -> None:
    request = demo_request(return_id, await charge_shopper(client.settings))
    await seed_order(
        client.settings, demo_order(request.order_id, request.customer_id, paid_with=request.payment_intent_id)
    )
    await client.start(request)


async def test_worker_killed_during_label_purchase_buys_exactly_one_label(stack: LocalStack) -> None:
    client = await stack.client()
    _hold_next_answer(stack, "shippo", "POST", "/transactions")
    await _start(stack, client, "CRASH-LABEL")

    def bought() -> list[dict]:
        return [t for t in _admin(stack, "shippo", "/_sandbox/transactions") if t["metadata"] == "return:CRASH-LABEL"]

    await _until(lambda: bool(bought()))
    stack.kill_workers(signal.SIGKILL)  # Shippo sold the label; the workflow never heard of it
    stack.start_worker()

    status = await wait_for_stage(client, "CRASH-LABEL", Stage.label_issued, timeout=RECOVERY.total_seconds())
    assert len(bought()) == 1
    assert status.label is not None and status.label.transaction_id == bought()[0]["object_id"]


async def test_worker_killed_during_refund_pays_exactly_once(stack: LocalStack) -> None:
    client = await stack.client()
    await _start(stack, client, "CRASH-REFUND")
    status = await wait_for_stage(client, "CRASH-REFUND", Stage.label_issued)
    for n, scan in enumerate((TrackingStatus.transit, TrackingStatus.delivered)):
        await client.record_carrier_scan(
            "CRASH-REFUND", CarrierScan(event_id=f"crash-{n}", status=scan, occurred_at=status.timeline[-1].at)
        )
    await wait_for_stage(client, "CRASH-REFUND", Stage.delivered)
    _hold_next_answer(stack, "stripe", "POST", "/v1/refunds")
    await client.record_inspection(
        "CRASH-REFUND",
        InspectionReport(
            inspector="dock-1", lines=[LineInspection(line_id=k, grade=v) for k, v in DEMO_GRADES.items()]
        ),
    )

    def refunds() -> list[dict]:
        return [
            r for r in _admin(stack, "stripe", "/_sandbox/refunds") if r["metadata"].get("return_id") == "CRASH-REFUND"
        ]

    await _until(lambda: bool(refunds()))
    stack.kill_workers(signal.SIGKILL)  # Stripe refunded; the workflow never heard of it
    stack.start_worker()

    final = await wait_for_stage(client, "CRASH-REFUND", Stage.completed, timeout=RECOVERY.total_seconds())
    assert final.stage is Stage.completed
    assert [(r["id"], r["amount"]) for r in refunds()] == [(final.refund.refund_id, 2 * 2500 - 599)]
