"""Footprint: worker memory with many returns open and waiting for scans, and signals to
returns the worker has cached against returns it evicted.

Per kind (baseline, real), two fresh workers on queues of their own: one whose sticky
cache holds every open return, one whose cache (`small_cache`) is smaller than the open
count. Each opens returns up to every level of `open_levels` (start, label, then waiting
for the first scan), with its resident memory read at each level; then every open return
gets one carrier scan that changes nothing visible. On the evicting worker each of those
scans is a cache miss: the worker replays the return's history before it can act.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from temporalio.client import WorkflowHandle

from bench.context import Bench, Lane
from bench.driver import closed_loop, open_return, prepare_all, signal_once

_MIB = 1024 * 1024


async def run(bench: Bench) -> dict[str, Any]:
    config = bench.config
    caches = {"cached": max(config.open_levels) + config.warmup, "evicting": config.small_cache}
    # All workers start at once (start-up is mostly imports); each is measured alone.
    lanes = {
        (name, label): bench.spawn(name, max_cached=size, queue=f"fp {name} {label}")
        for name in config.footprint_variants
        for label, size in caches.items()
    }
    runs = {key: await _measure(bench, lane, caches[key[1]]) for key, lane in lanes.items()}
    result: dict[str, Any] = {}
    for name in config.footprint_variants:
        cached, evicting = runs[name, "cached"], runs[name, "evicting"]
        result[name] = {
            "kib_per_cached_return": _slope_kib(cached["rss_mib"]),
            "kib_per_return_beyond_cache": _slope_kib(evicting["rss_mib"]),
            "signals_per_s": {"cached": cached["signals_per_s"], "evicted": evicting["signals_per_s"]},
            "evicted_vs_cached": round(evicting["signals_per_s"] / cached["signals_per_s"], 3),
            "cached": cached,
            "evicting": evicting,
        }
    return result


async def _measure(bench: Bench, lane: Lane, max_cached: int) -> dict[str, Any]:
    try:
        handles, _ = await _open(bench, lane, bench.config.warmup, "warm")
        await bench.settle()
        rss = {len(handles): _mib(bench, lane)}  # after the warm-up, before the levels
        open_rates: dict[int, float] = {}
        for level in bench.config.open_levels:
            opened, rate = await _open(bench, lane, level - len(handles), str(level))
            handles += opened
            open_rates[level] = rate
            await bench.settle()
            rss[len(handles)] = _mib(bench, lane)
        _, seconds = await closed_loop(handles, bench.config.concurrency, lambda h: signal_once(lane.flavor, h, 1))
        await bench.settle()
        return {
            "max_cached_workflows": max_cached,
            "rss_mib": rss,
            "rss_mib_after_signals": _mib(bench, lane),
            "opened_per_s": open_rates,
            "signals_per_s": round(len(handles) / seconds, 2),
        }
    finally:
        await bench.stack.stop_workers(lane.task_queue)


async def _open(bench: Bench, lane: Lane, count: int, label: str) -> tuple[list[WorkflowHandle], float]:
    """Opens `count` returns up to their label; returns their handles and returns/s."""
    prepared = await prepare_all(lane.flavor, bench.return_ids(f"{lane.key}-{label}", count))
    started = perf_counter()
    opened, _ = await closed_loop(prepared, bench.config.concurrency, lambda p: open_return(lane.flavor, p))
    return [handle for handle, _ in opened], round(count / (perf_counter() - started), 2)


def _mib(bench: Bench, lane: Lane) -> float:
    return round(bench.stack.rss_bytes(lane.task_queue) / _MIB, 1)


def _slope_kib(rss_mib: dict[int, float]) -> float:
    """Memory per return between the first and the last level (fixed costs cancel out)."""
    counts = sorted(rss_mib)
    low, high = counts[1 if len(counts) > 2 else 0], counts[-1]  # the warm-up only when one level
    return round((rss_mib[high] - rss_mib[low]) * 1024 / (high - low), 1)
