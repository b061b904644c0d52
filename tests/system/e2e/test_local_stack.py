"""End to end on the real Temporal dev server, with the worker, API and sandboxes as separate processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from devstack.demo import run_demo
from devstack.stack import LocalStack, Ports
from starter.client import ReturnsClient
from workflows.search_attributes import RETURN_STAGE
from workflows.vocabulary import Stage

pytestmark = pytest.mark.devserver


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    log_dir: Path = tmp_path_factory.mktemp("stack")
    async with LocalStack(ports=Ports.free(), ui=False, log_dir=log_dir) as stack:
        yield stack


async def test_demo_return_completes_with_exactly_one_refund_of_the_accepted_amount(stack: LocalStack) -> None:
    status = await run_demo(stack.settings, stack.api_url, return_id="E2E-1")

    assert status.stage is Stage.completed
    expected = 2 * 2500 - 599  # two shirts back in A condition, less the label (config/return_policy.json)
    assert status.refund is not None and status.refund.amount == expected
    async with httpx.AsyncClient(timeout=10) as http:
        refunds = (await http.get(f"{stack.sandbox_url('stripe')}/_sandbox/refunds")).json()
        restocks = (await http.get(f"{stack.sandbox_url('shop')}/v1/restocks", params={"reference": "E2E-1"})).json()
    assert [(r["amount"], r["metadata"]["return_id"]) for r in refunds] == [(expected, "E2E-1")]
    assert [(r["sku"], r["quantity"]) for r in restocks] == [("TSHIRT-M-BLUE", 2)]


async def test_completed_returns_are_found_by_their_search_attributes(stack: LocalStack) -> None:
    client: ReturnsClient = await stack.client()
    await run_demo(stack.settings, stack.api_url, return_id="E2E-2")
    query = f"{RETURN_STAGE.name} = 'completed' AND ReturnOrderId = 'ORD-E2E-2'"
    for _ in range(50):  # visibility is eventually consistent
        found = [w.id async for w in client.temporal.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.2)
    assert found == ["return-E2E-2"]
