"""Proof under faults, from outside, as the system's users and vendors would see it.

    python -m chaos run [--quick] [--returns N] [--in-flight K] [--seed S]   # the chaos run
    python -m chaos fuzz [--quick] [--requests N]                            # bad input at scale
    python -m chaos load [--quick] [--returns N]                             # returns at once

Each starts its own stack on free loopback ports, prints tables, writes JSON under .run/chaos/
and exits 1 when an invariant broke. What each checks and measures: docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path

from chaos.context import QUICK, ChaosConfig
from chaos.report import render_run, write_json
from integrations.log_config import configure_logging


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command")
    chaos = commands.add_parser("run", help="N returns through crashes, outages and disordered events")
    chaos.add_argument("--quick", action="store_true", help=f"{QUICK.returns} returns, faults more often")
    chaos.add_argument("--returns", type=int, help=f"how many (default {ChaosConfig.returns})")
    chaos.add_argument("--in-flight", type=int, help=f"returns in flight at once (default {ChaosConfig.in_flight})")
    chaos.add_argument("--seed", type=int, help="the draw of kinds and deliveries (default 10)")
    chaos.add_argument("--output", type=Path, help=f"JSON results (default {ChaosConfig.output})")
    fuzz = commands.add_parser("fuzz", help="invalid requests to every route and both webhooks")
    fuzz.add_argument("--quick", action="store_true")
    fuzz.add_argument("--requests", type=int)
    fuzz.add_argument("--output", type=Path)
    load = commands.add_parser("load", help="returns started at once, then their events")
    load.add_argument("--quick", action="store_true")
    load.add_argument("--returns", type=int)
    load.add_argument("--output", type=Path)
    args = parser.parse_args(argv if argv is not None else sys.argv[1:] or ["run"])
    configure_logging("WARNING")
    if args.command == "fuzz":
        from chaos import fuzz as command
    elif args.command == "load":
        from chaos import load as command
    else:
        command = None
    if command is not None:
        sys.exit(command.main(args))
    base = QUICK if args.quick else ChaosConfig()
    changes = {"returns": args.returns, "in_flight": args.in_flight, "seed": args.seed, "output": args.output}
    config = dataclasses.replace(base, **{k: v for k, v in changes.items() if v is not None})
    from chaos.run import run

    results = asyncio.run(run(config))
    write_json(results, config.output)
    print(f"\n{render_run(results)}\n\nresults: {config.output}")
    sys.exit(1 if results["violations"] or results["journeys"]["gave_up"] else 0)


if __name__ == "__main__":
    main()
