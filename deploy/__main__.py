"""The production topology on this machine: PostgreSQL, the Temporal server and its Web UI, the vendor
sandboxes, and the app from its wheel (two workers, two API processes behind one port).

    python -m deploy up [--mtls] [--no-ui] [--state-dir .run/prod] [--retention-days 30] [--history-shards 4]
    python -m deploy status
    python -m deploy down

`up` installs what is missing (scripts/setup-production.sh), starts what is not running and exits,
leaving the processes running; `down` stops them, keeping the data for the next `up`. Ports default
to ones beside the dev stack's (`make run`), e.g. Temporal on 127.0.0.1:17233, the API on :18000.
Settings chosen at the first `up` (ports, shards, retention) are kept in <state-dir>/topology.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from deploy.config import DEFAULT_STATE_DIR, TopologyConfig
from deploy.tools import ToolUnavailable
from deploy.topology import Topology
from integrations.log_config import configure_logging


def _config(args: argparse.Namespace) -> TopologyConfig:
    state_dir: Path = args.state_dir.resolve()
    config = TopologyConfig.load(state_dir) if (state_dir / "topology.json").exists() else TopologyConfig(state_dir)
    changes: dict[str, object] = {}
    if args.mtls is not None:
        changes["mtls"] = args.mtls
    if args.retention_days is not None:
        changes["retention"] = timedelta(days=args.retention_days)
    if args.history_shards is not None:
        if (state_dir / "postgres").exists() and args.history_shards != config.history_shards:
            raise SystemExit(f"this cluster has {config.history_shards} history shards; they can't be changed")
        changes["history_shards"] = args.history_shards
    if args.ui is not None:
        changes["ui"] = args.ui
    return replace(config, **changes)


def _print_status(topology: Topology) -> bool:
    status = topology.status()
    config = topology.config
    print(f"state: {config.state_dir}   postgres: {'running' if status.postgres else 'stopped'}")
    for name, pid in status.processes.items():
        print(f"  {name:<16} {'pid ' + str(pid) if pid else 'stopped'}")
    security = ", mTLS" if config.mtls else ""
    print(
        f"Temporal:  {topology.temporal_address}  (namespace {config.namespace}, {config.history_shards} shards,"
        f" retention {config.retention.days} days{security})"
    )
    print(f"API:       {topology.api_url}/docs   keys in {config.state_dir / 'secrets.json'}")
    if config.ui:
        print(f"Web UI:    {topology.ui_url}")
    print(f"Logs:      {topology.supervisor.log_dir}/")
    return status.all_running


async def _main(args: argparse.Namespace) -> int:
    if args.command == "up":
        topology = Topology(_config(args))
        try:
            await topology.up()
        except ToolUnavailable as error:
            print(f"cannot start: {error}", file=sys.stderr)
            return 2
        except Exception as error:  # what started keeps running, for its logs to be read
            hint = f"logs: {topology.supervisor.log_dir}; `python -m deploy down` stops what started"
            print(f"up failed: {error}\n{hint}", file=sys.stderr)
            return 1
        return 0 if _print_status(topology) else 1
    state_dir = args.state_dir.resolve()
    if not (state_dir / "topology.json").exists():
        print(f"no topology in {state_dir}", file=sys.stderr)
        return 0 if args.command == "down" else 3
    topology = Topology.from_state(state_dir)
    if args.command == "down":
        await topology.down()
        return 0
    return 0 if _print_status(topology) else 1


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m deploy", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--mtls", action=argparse.BooleanOptionalAction, default=None, help="frontend on mTLS")
    parser.add_argument("--retention-days", type=int, default=None, help="namespace retention (default 30)")
    parser.add_argument("--history-shards", type=int, default=None, help="only when the cluster is new (default 4)")
    parser.add_argument("--ui", action=argparse.BooleanOptionalAction, default=None, help="the Web UI (default on)")
    args = parser.parse_args()
    configure_logging("INFO", "console")
    sys.exit(asyncio.run(_main(args)))


if __name__ == "__main__":
    main()
