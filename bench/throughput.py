"""Throughput: whole happy-path returns per second, per variant, side by side.

Each round runs every variant once (the order alternates between rounds, so drift on a
shared machine hits all alike); a variant's ratio to the baseline is taken per round,
then the median over rounds. Orders and payments are prepared before the clock starts.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from bench.context import Bench, Lane
from bench.driver import closed_loop, journey, percentiles, prepare_all
from bench.flavors import HAPPY_PATH
from bench.profiling import profiled


async def run(bench: Bench) -> dict[str, Any]:
    lanes = await bench.lanes(bench.config.variants)
    rounds: list[dict[str, Any]] = []
    for number in range(bench.config.rounds):
        for lane in lanes if number % 2 == 0 else reversed(lanes):
            rounds.append(await _timed_round(bench, lane, number))
    result: dict[str, Any] = {"variants": _summary(rounds, reference=lanes[0].name), "rounds": rounds}
    result["scale_out"] = _ratio(rounds, "real x2", "real")
    if bench.config.profile:
        result["profiles"] = {lane.name: await _profiled_round(bench, lane) for lane in lanes}
    return result


async def _timed_round(bench: Bench, lane: Lane, number: int) -> dict[str, Any]:
    config = bench.config
    prepared = await prepare_all(lane.flavor, bench.return_ids(f"{lane.key}-{number}", config.returns))
    cpu_before = bench.stack.cpu_seconds()
    durations, seconds = await closed_loop(prepared, config.concurrency, lambda p: journey(lane.flavor, p, HAPPY_PATH))
    cpu_after = bench.stack.cpu_seconds()
    cpu_ms = {role: (cpu_after[role] - cpu_before.get(role, 0.0)) * 1000 / config.returns for role in cpu_after}
    return {
        "variant": lane.name,
        "round": number,
        "returns": config.returns,
        "seconds": round(seconds, 3),
        "returns_per_s": round(config.returns / seconds, 2),
        "journey_ms": percentiles(durations),
        "cpu_ms_per_return": _roles(cpu_ms, lane, bench),
    }


def _roles(cpu_ms: dict[str, float], lane: Lane, bench: Bench) -> dict[str, float]:
    """CPU per return of the processes that did the work: this lane's workers, the server,
    the sandboxes and the driver (idle workers of other lanes are left out)."""
    own = f"worker {lane.task_queue}"
    roles = {"worker": cpu_ms.get(own, 0.0), **{r: cpu_ms.get(r, 0.0) for r in ("server", "sandboxes", "driver")}}
    return {role: round(ms, 2) for role, ms in roles.items()}


def _summary(rounds: list[dict[str, Any]], reference: str) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in dict.fromkeys(r["variant"] for r in rounds):
        mine = [r for r in rounds if r["variant"] == name]
        summary[name] = {
            "returns_per_s": statistics.median(r["returns_per_s"] for r in mine),
            "vs_baseline": _ratio(rounds, name, reference),
            "worker_cpu_vs_baseline": _ratio(rounds, name, reference, _worker_cpu),
            "journey_p50_ms": statistics.median(r["journey_ms"]["p50"] for r in mine),
            "cpu_ms_per_return": {
                role: round(statistics.median(r["cpu_ms_per_return"][role] for r in mine), 2)
                for role in mine[0]["cpu_ms_per_return"]
            },
        }
    return summary


def _ratio(
    rounds: list[dict[str, Any]], name: str, reference: str, measure: Callable[[dict[str, Any]], float] | None = None
) -> float | None:
    """Median over rounds of name's `measure` (returns/s) divided by reference's in the same round."""
    measure = measure or _rate
    values = {(r["variant"], r["round"]): measure(r) for r in rounds}
    ratios = [values[name, n] / values[reference, n] for v, n in values if v == name and (reference, n) in values]
    return round(statistics.median(ratios), 3) if ratios else None


def _rate(round_result: dict[str, Any]) -> float:
    return round_result["returns_per_s"]


def _worker_cpu(round_result: dict[str, Any]) -> float:
    return round_result["cpu_ms_per_return"]["worker"]


async def _profiled_round(bench: Bench, lane: Lane) -> dict[str, Any]:
    """One more round, untimed, with py-spy sampling this lane's workers."""
    config = bench.config
    prepared = await prepare_all(lane.flavor, bench.return_ids(f"{lane.key}-prof", config.returns))
    output = bench.stack.log_dir / f"profile-{bench.run_id}-{lane.key}"
    async with profiled([p.pid for p in lane.processes], output) as summary:
        await closed_loop(prepared, config.concurrency, lambda p: journey(lane.flavor, p, HAPPY_PATH))
    return summary
