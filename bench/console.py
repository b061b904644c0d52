"""The operations console's queue and search pages, timed with many returns in visibility.

    python -m bench.console [--returns 10000] [--requests 100]

Starts the local stack on free ports and fills Temporal's visibility with `--returns` returns
spread over every stage, order, customer and tracking number, their stage entered 0 to 30 days
ago: ReturnWorkflow runs started with their search attributes on a task queue no worker polls
(the console's queues and search read visibility only, never the workflows); and fills the
stack's event store with as many synthetic returns (store/generate.py, requested over the last
30 days) for the pages that read its read model (the decision queue, search by SKU, method or
reason, the dashboard's reports). Then signs in as
an operator and times each page `--requests` times, as a client on the same machine sees it (the
API's own time plus a localhost round trip). The attention queues are left out: their rows read
each return's status from its workflow, which these idle runs never answer.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import time
from datetime import UTC, datetime, timedelta

import httpx
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from console.dashboard import CHARTS
from devstack.stack import LOAD_SERVER_ARGS, LocalStack, Ports
from store.bulk import bulk_load
from store.generate import Synthetic
from store.store import EventStore
from workflows.contract import workflow_id_for
from workflows.search_attributes import (
    CUSTOMER_ID,
    NEEDS_ATTENTION,
    ORDER_ID,
    RETURN_STAGE,
    STAGE_SINCE,
    TRACKING_NUMBER,
)
from workflows.vocabulary import Stage

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
IDLE_QUEUE = "bench-console-idle"  # no worker polls it: the runs only sit in visibility


async def fill(stack: LocalStack, count: int) -> None:
    client = (await stack.client()).temporal
    now = datetime.now(UTC)
    stages = list(Stage)
    chance = random.Random(16)
    gate = asyncio.Semaphore(32)

    async def start(number: int) -> None:
        attributes = TypedSearchAttributes(
            [
                SearchAttributePair(RETURN_STAGE, chance.choice(stages).value),
                SearchAttributePair(ORDER_ID, f"ORD-B-{number}"),
                SearchAttributePair(CUSTOMER_ID, f"CUS-B-{number % 500}"),
                SearchAttributePair(TRACKING_NUMBER, f"TRK-B-{number}"),
                SearchAttributePair(NEEDS_ATTENTION, "false"),
                SearchAttributePair(STAGE_SINCE, now - timedelta(days=chance.uniform(0, 30))),
            ]
        )
        async with gate:
            await client.start_workflow(
                "ReturnWorkflow", id=workflow_id_for(f"B-{number}"), task_queue=IDLE_QUEUE, search_attributes=attributes
            )

    started = time.perf_counter()
    await asyncio.gather(*(start(number) for number in range(count)))
    print(f"{count} returns started in {time.perf_counter() - started:.0f} s", flush=True)


def fill_store(stack: LocalStack, count: int) -> None:
    synthetic = Synthetic(count, end=datetime.now(UTC), days=30)
    store = EventStore.open(stack.settings.event_store_url.get_secret_value(), migrate=True)
    started = time.perf_counter()
    try:
        bulk_load(store, synthetic.stream(), sales=synthetic.sales())
    finally:
        store.close()
    print(f"{count} returns in the event store in {time.perf_counter() - started:.0f} s", flush=True)


async def signed_in(http: httpx.AsyncClient) -> None:
    page = (await http.get("/console/sign-in")).text
    form = {"csrf_token": _CSRF.search(page).group(1), "api_key": "local-operator-key"}
    (await http.post("/console/sign-in", data=form)).raise_for_status()


async def timed(http: httpx.AsyncClient, path: str, requests: int) -> list[float]:
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = await http.get(path)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return times


async def main(returns: int, requests: int) -> None:
    sku = Synthetic(returns, end=datetime.now(UTC)).catalog().skus[0][0]
    pages = {
        "queues (7 counts)": "/console/queues",
        "queue: stuck > 7 days": "/console/queues/stuck",
        "queue: in transit too long": "/console/queues/in-transit-too-long",
        "queue: labels expiring": "/console/queues/labels-expiring",
        "search: an order": "/console/returns?q=ORD-B-4242",
        "search: a customer": "/console/returns?q=CUS-B-42",
        "search: a tracking number": "/console/returns?q=TRK-B-777",
        "search: a stage": "/console/returns?stage=in_transit",
        "search: everything": "/console/returns",
        "queue: waiting for a decision": "/console/queues/waiting-for-a-decision",
        "search: a SKU (store)": f"/console/returns?sku={sku}",
        "search: method+reason (store)": "/console/returns?method=mail_label&reason=defective",
        f"dashboard ({len(CHARTS)} reports)": "/console/dashboard",
    }
    async with LocalStack(ports=Ports.free(), ui=False, server_args=LOAD_SERVER_ARGS) as stack:
        await fill(stack, returns)
        await asyncio.to_thread(fill_store, stack, returns)
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=30, follow_redirects=True) as http:
            await signed_in(http)
            await timed(http, "/console/queues", 5)  # warm up
            print(f"{'page':<28}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}")
            for name, path in pages.items():
                times = await timed(http, path, requests)
                p95 = statistics.quantiles(times, n=20)[18]
                print(f"{name:<28}{statistics.median(times):>8.1f}{p95:>8.1f}{max(times):>8.1f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--returns", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.returns, arguments.requests))
