"""Latency: from a carrier or warehouse event to the new state in the status query, and
the time to start a return; p50/p95/p99, one return at a time (an otherwise idle stack).

Variants, interleaved sample by sample: the baseline messaged directly; the real return
messaged directly (scans as signals, the receipt and the inspection as updates); through
ReturnsClient, the door a shop's backend uses; and through
the HTTP API (LocalStack's API process and production worker), where the status is read
over HTTP too, a start answers the new return's status (so it waits for the first
workflow task), and the carrier's scans arrive as signed Shippo webhooks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from time import perf_counter
from typing import Any

import httpx

from bench.context import Bench
from bench.driver import percentiles, prepare_all, until_visible
from bench.flavors import HAPPY_PATH, Event, Flavor, HttpFlavor, Receipt, ReturnFlavor, Scan, is_visible
from bench.history import STEP_TIMEOUT, HistoryFollower


async def run(bench: Bench) -> dict[str, Any]:
    baseline, real_lane = await bench.lanes(["baseline", "real"])
    real = real_lane.flavor
    assert isinstance(real, ReturnFlavor)
    async with httpx.AsyncClient(base_url=bench.stack.api_url, timeout=STEP_TIMEOUT) as api:
        production = bench.flavor("real", bench.stack.settings.task_queue)
        assert isinstance(production, ReturnFlavor)
        http = HttpFlavor("real (HTTP API)", production, api)
        await bench.warm_up(http, "http", bench.config.warmup)
        flavors: list[Flavor] = [
            baseline.flavor,
            dataclasses.replace(real, name="real (raw signal)", door=False),
            dataclasses.replace(real, name="real (ReturnsClient)", door=True),
            http,
        ]
        return await _measure(bench, flavors)


async def _measure(bench: Bench, flavors: list[Flavor]) -> dict[str, Any]:
    samples: dict[str, dict[str, list[float]]] = {f.name: {"start": [], "event": []} for f in flavors}
    by_event: dict[str, list[float]] = {}
    for n in range(bench.config.latency_samples):
        for flavor in flavors:
            (prepared,) = await prepare_all(flavor, bench.return_ids(f"lat{n}-{flavors.index(flavor)}", 1))
            start, events = await _sample(flavor, prepared, HAPPY_PATH)
            samples[flavor.name]["start"].append(start)
            samples[flavor.name]["event"].extend(events.values())
            for name, seconds in events.items():
                by_event.setdefault(f"{flavor.name}: {name}", []).append(seconds)
    return {
        "start_ms": {name: percentiles(s["start"]) for name, s in samples.items()},
        "event_to_visible_ms": {name: percentiles(s["event"]) for name, s in samples.items()},
        "by_event_ms": {name: percentiles(s) for name, s in by_event.items()},
    }


async def _sample(flavor: Flavor, prepared: Any, events: Sequence[Event]) -> tuple[float, dict[str, float]]:
    """One return: seconds to start it, and from each visible event to its state showing."""
    started = perf_counter()
    handle = await flavor.start(prepared)
    start = perf_counter() - started
    follower = HistoryFollower(handle)
    await follower.until(flavor.label_ready)
    timings: dict[str, float] = {}
    for n, event in enumerate(events, start=1):
        sent = await flavor.tell(handle, event, n)
        if is_visible(event):
            await until_visible(flavor, handle, event)
            timings[_name(event)] = perf_counter() - sent
        await follower.until_messages_processed(n)
    await follower.until(flavor.done)
    return start, timings


def _name(event: Event) -> str:
    if isinstance(event, Scan):
        return f"scan {event.status.value}"
    return "receipt" if isinstance(event, Receipt) else "inspection"
