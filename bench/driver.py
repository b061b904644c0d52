"""Driving returns: a closed loop of journeys, and the statistics of what it measured."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from time import perf_counter
from typing import Any, TypeVar

from temporalio.client import WorkflowHandle

from bench.flavors import NO_PROGRESS_SCAN, Event, Flavor, shows
from bench.history import STEP_TIMEOUT, HistoryFollower

T = TypeVar("T")
R = TypeVar("R")
_POLL_PAUSE = 0.002  # seconds between status queries while waiting for a state to show


async def closed_loop(items: Sequence[T], concurrency: int, job: Callable[[T], Awaitable[R]]) -> tuple[list[R], float]:
    """Runs `job` on every item, `concurrency` at a time (the next starts as one finishes);
    returns the results in item order and the wall-clock seconds it all took."""
    results: list[Any] = [None] * len(items)
    pending = iter(range(len(items)))

    async def lane() -> None:
        for index in pending:  # shared: each index is taken by exactly one lane
            results[index] = await job(items[index])

    started = perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(min(concurrency, len(items))):
            group.create_task(lane())
    return results, perf_counter() - started


async def prepare_all(flavor: Flavor, return_ids: Sequence[str], concurrency: int = 8) -> list[Any]:
    prepared, _ = await closed_loop(return_ids, concurrency, flavor.prepare)
    return prepared


async def open_return(flavor: Flavor, prepared: Any) -> tuple[WorkflowHandle, HistoryFollower]:
    """Starts a return and waits until it takes carrier scans (its label is out)."""
    handle = await flavor.start(prepared)
    follower = HistoryFollower(handle)
    await follower.until(flavor.label_ready)
    return handle, follower


async def walk(flavor: Flavor, handle: WorkflowHandle, follower: HistoryFollower, events: Sequence[Event]) -> None:
    """Tells the events one by one, each once the workflow has acted on the one before."""
    for n, event in enumerate(events, start=1):
        await flavor.tell(handle, event, n)
        await follower.until_messages_processed(n)


async def journey(flavor: Flavor, prepared: Any, events: Sequence[Event]) -> float:
    """A whole return, from its start until it is resolved; returns the seconds it took."""
    started = perf_counter()
    handle, follower = await open_return(flavor, prepared)
    await walk(flavor, handle, follower, events)
    await follower.until(flavor.done)
    return perf_counter() - started


async def signal_once(flavor: Flavor, handle: WorkflowHandle, n: int) -> None:
    """One carrier scan that changes nothing visible, to a return that has seen n - 1 signals."""
    await flavor.tell(handle, NO_PROGRESS_SCAN, n)
    await HistoryFollower(handle).until_messages_processed(n)


async def until_visible(flavor: Flavor, handle: WorkflowHandle, event: Event, timeout: float = STEP_TIMEOUT) -> None:
    """Polls the status query until it shows the effect of `event` (polling is the point:
    the status query is what a shop sees)."""
    async with asyncio.timeout(timeout):
        while not shows(await flavor.view(handle), event):  # noqa: ASYNC110
            await asyncio.sleep(_POLL_PAUSE)


def percentiles(samples: Sequence[float], scale: float = 1000.0) -> dict[str, float | int]:
    """p50/p95/p99 (nearest rank) of `samples`, times `scale` (seconds to milliseconds)."""
    ordered = sorted(samples)

    def rank(p: float) -> float:
        return round(ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)] * scale, 2)

    if not ordered:
        return {"n": 0}
    return {"n": len(ordered), "p50": rank(50), "p95": rank(95), "p99": rank(99), "max": round(ordered[-1] * scale, 2)}
