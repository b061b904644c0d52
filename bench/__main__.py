"""The benchmark: how close a return gets to the engine's own ceiling.

    make bench                       # = python -m bench; a few minutes on 2 cores
    python -m bench --quick          # under a minute: proves the harness, measures little
    python -m bench --phases footprint --open-levels 1000,10000 --small-cache 500
    python -m bench --server production  # the throughput phase on deploy/'s topology (PostgreSQL)

Starts its own Temporal dev server (in memory; with `--server production`, deploy/'s Temporal
server on PostgreSQL), sandboxes and worker processes on free loopback ports, runs the phases
(throughput, latency, history, footprint), prints a table and writes the results as JSON. See
docs/benchmarks.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import footprint, histories, latency, throughput
from bench.config import PHASES, QUICK, BenchConfig
from bench.context import LANES, Bench, slug
from bench.report import machine, render, write_json
from bench.stack import TUNED_SERVER_ARGS, BenchStack, ProductionBenchStack
from devstack.stack import Ports
from integrations.log_config import configure_logging

_RUNNERS = {"throughput": throughput.run, "latency": latency.run, "history": histories.run, "footprint": footprint.run}


def parse_config(argv: list[str] | None = None) -> BenchConfig:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = BenchConfig()
    parser.add_argument("--quick", action="store_true", help="tiny sizes: proves the harness in under a minute")
    parser.add_argument("--returns", type=int, help=f"per variant and round (default {defaults.returns})")
    parser.add_argument("--rounds", type=int, help=f"throughput rounds (default {defaults.rounds})")
    parser.add_argument("--concurrency", type=int, help=f"returns in flight (default {defaults.concurrency})")
    parser.add_argument("--warmup", type=int, help=f"untimed returns per worker (default {defaults.warmup})")
    parser.add_argument("--latency-samples", type=int, help=f"returns per variant (default {defaults.latency_samples})")
    parser.add_argument(
        "--open-levels",
        type=_levels,
        help=f"open returns at which memory is read, e.g. 1000,10000 (default {_csv(defaults.open_levels)})",
    )
    parser.add_argument(
        "--small-cache", type=int, help=f"cache of the evicting worker (default {defaults.small_cache})"
    )
    parser.add_argument("--phases", type=_phases, help=f"comma-separated subset of {','.join(PHASES)}")
    variants = ",".join(slug(name) for name in LANES)
    parser.add_argument("--variants", type=_variants, help=f"throughput variants, reference first; of {variants}")
    parser.add_argument(
        "--footprint-variants", type=_variants, help=f"footprint variants (default {_csv(defaults.footprint_variants)})"
    )
    parser.add_argument(
        "--stock-server", action="store_true", help="leave the dev server's dispatch limits as they are"
    )
    parser.add_argument(
        "--server",
        choices=["dev", "production"],
        help="dev: the dev server, in memory (default); production: deploy/'s topology (throughput phase)",
    )
    parser.add_argument(
        "--no-webhooks",
        dest="webhooks",
        action="store_false",
        default=None,
        help="no subscriber to return events (default: the local receiver gets every event, as in make run)",
    )
    parser.add_argument("--profile", action="store_true", help="one more round per variant under py-spy")
    parser.add_argument("--output", type=Path, help=f"JSON results file (default {defaults.output})")
    args = vars(parser.parse_args(argv))
    base = QUICK if args.pop("quick") else defaults
    config = dataclasses.replace(base, **{k: v for k, v in args.items() if v is not None})
    if config.server == "production":
        if args["phases"] is None:
            config = dataclasses.replace(config, phases=("throughput",))
        elif set(config.phases) != {"throughput"}:
            parser.error("--server production runs the throughput phase only")
    return config


async def run(config: BenchConfig) -> dict[str, Any]:
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "config": dataclasses.asdict(config),
    }
    began = time.monotonic()
    async with _stack(config) as stack:
        bench = await Bench.connect(stack, config)
        for phase in config.phases:
            print(f"[bench] {phase} ...", flush=True)
            phase_began = time.monotonic()
            results[phase] = await _RUNNERS[phase](bench)
            print(f"[bench] {phase} done in {time.monotonic() - phase_began:.0f} s", flush=True)
    results["duration_s"] = round(time.monotonic() - began, 1)
    return results


def _stack(config: BenchConfig) -> BenchStack:
    if config.server == "production":
        return ProductionBenchStack(ports=Ports.free(), api=False)
    server_args = () if config.stock_server else TUNED_SERVER_ARGS
    return BenchStack(ports=Ports.free(), server_args=server_args, webhooks=config.webhooks)


def main(argv: list[str] | None = None) -> None:
    config = parse_config(argv)
    configure_logging("WARNING")
    results = asyncio.run(run(config))
    write_json(results, config.output)
    print(f"\n{render(results)}\n\nresults: {config.output} ({results['duration_s']} s)")


def _csv(values: tuple[object, ...]) -> str:
    return ",".join(slug(str(value)) for value in values)


def _levels(text: str) -> tuple[int, ...]:
    levels = tuple(sorted(int(part) for part in text.split(",")))
    if not levels or levels[0] < 1:
        raise argparse.ArgumentTypeError("levels are positive counts, e.g. 1000,10000")
    return levels


def _phases(text: str) -> tuple[str, ...]:
    return _choices(text, {phase: phase for phase in PHASES})


def _variants(text: str) -> tuple[str, ...]:
    return _choices(text, {slug(name): name for name in LANES})


def _choices(text: str, known: dict[str, str]) -> tuple[str, ...]:
    """Comma-separated names, each one of `known` (spelt with dashes or spaces)."""
    names = [slug(part.strip()) for part in text.split(",")]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {','.join(known)}")
    return tuple(known[name] for name in names)


if __name__ == "__main__":
    main()
