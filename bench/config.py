"""The benchmark's sizes: defaults that finish in a few minutes on 2 cores, and `--quick`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devstack.stack import ROOT

PHASES = ("throughput", "latency", "history", "footprint")
VARIANTS = ("baseline", "stub", "real", "real x2")  # names from bench.context.LANES
FOOTPRINT_VARIANTS = ("baseline", "real", "real strict")  # the worker's sandbox as it is, and as it was


@dataclass(frozen=True)
class BenchConfig:
    returns: int = 50  # per variant and round, through the whole happy path
    rounds: int = 2  # variants alternate within each round; ratios are per round, then the median
    concurrency: int = 8  # returns in flight at once (a closed loop); 8 saturates 2 cores
    warmup: int = 4  # returns per worker before anything is timed
    latency_samples: int = 20  # returns per variant, one at a time, four timed events each
    open_levels: tuple[int, ...] = (50, 200)  # open returns at which worker memory is read
    small_cache: int = 25  # max_cached_workflows of the worker that must evict (below the first level)
    settle_seconds: float = 1.0  # pause before a worker's memory is read
    deadline_seconds: float = 2.0  # the one short deadline of each history branch
    phases: tuple[str, ...] = PHASES
    variants: tuple[str, ...] = VARIANTS  # throughput; the first is the reference of the ratios
    footprint_variants: tuple[str, ...] = FOOTPRINT_VARIANTS
    stock_server: bool = False  # the dev server as it comes (see bench/stack.py, TUNED_SERVER_ARGS)
    server: str = "dev"  # or "production": deploy/'s topology, Temporal on PostgreSQL (throughput only)
    webhooks: bool = True  # dev server: a subscriber to every return event, as `make run` has
    profile: bool = False  # one extra, untimed round per variant under py-spy
    output: Path = ROOT / ".run" / "bench" / "results.json"


# Every phase and variant, each with a handful of returns: proves the harness, measures little.
QUICK = BenchConfig(
    returns=4,
    rounds=1,
    concurrency=4,
    warmup=1,
    latency_samples=2,
    open_levels=(5, 10),
    small_cache=3,
    settle_seconds=0.2,
)
