"""The production topology on this machine: PostgreSQL, the Temporal server and its Web UI, the vendor
sandboxes, and the app from its wheel (two workers, two API processes behind one port).

    python -m deploy up [--mtls] [--no-ui] [--state-dir .run/prod] [--retention-days 30] [--history-shards 4]
    python -m deploy status
    python -m deploy down
    python -m deploy key add operator kim       # a person's key for the console and the API, shown once
    python -m deploy key add warehouse wms-1 --system [--shop acme]
    python -m deploy key list
    python -m deploy key revoke kim             # every key of kim's, at the next request

`up` installs what is missing (scripts/setup-production.sh), starts what is not running and exits,
leaving the processes running; `down` stops them, keeping the data for the next `up`. Ports default
to ones beside the dev stack's (`make run`), e.g. Temporal on 127.0.0.1:17233, the API on :18000.
Settings chosen at the first `up` (ports, shards, retention) are kept in <state-dir>/topology.json.
Keys are kept hashed in <state-dir>/api_keys.json, which the running API processes read again when
it changes: a key works, or stops working, at once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from pydantic import ValidationError

from api.auth import KeyFile, Role
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
    print(f"API:       {topology.api_url}/docs   systems' shared keys in {config.state_dir / 'secrets.json'}")
    print(f"Console:   {topology.api_url}/console   (a key of your own: python -m deploy key add operator <you>)")
    print(f"Portal:    {topology.api_url}/portal")
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
        print(f"no topology in {state_dir}: `python -m deploy up` makes one", file=sys.stderr)
        return 0 if args.command == "down" else 3
    topology = Topology.from_state(state_dir)
    if args.command == "key":
        return _keys(topology.people_keys, args)
    if args.command == "down":
        await topology.down()
        return 0
    return 0 if _print_status(topology) else 1


def _keys(people: KeyFile, args: argparse.Namespace) -> int:
    if args.key_command == "add":
        try:
            key = people.add(Role(args.role), args.holder, system=args.system, shop=args.shop)
        except ValidationError as error:
            print(f"not a key's holder or shop: {error.errors()[0]['msg']}", file=sys.stderr)
            return 2
        print(f"{args.holder}'s {args.role} key (shown once, kept nowhere): {key}")
        return 0
    if args.key_command == "revoke":
        removed = people.revoke(args.holder)
        print(f"revoked {removed} key(s) of {args.holder}")
        return 0 if removed else 1
    for known, grant in sorted(people.grants().items(), key=lambda item: (item[1].holder, item[0])):
        kind = "system" if grant.system else "person"
        print(f"{grant.holder:<24} {grant.role:<11} {kind:<7} shop {grant.shop or '-':<10} key id {known[:12]}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m deploy", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    commands = parser.add_subparsers(dest="command", required=True)
    # `up`'s choices; status and down take them too (and ignore them): `make prod-* PROD_ARGS=...` passes them alike
    shape = argparse.ArgumentParser(add_help=False, parents=[common])
    shape.add_argument("--mtls", action=argparse.BooleanOptionalAction, default=None, help="frontend on mTLS")
    shape.add_argument("--retention-days", type=int, default=None, help="namespace retention (default 30)")
    shape.add_argument("--history-shards", type=int, default=None, help="only when the cluster is new (default 4)")
    shape.add_argument("--ui", action=argparse.BooleanOptionalAction, default=None, help="the Web UI (default on)")
    commands.add_parser("up", parents=[shape], help="start what is not running")
    commands.add_parser("status", parents=[shape], help="what runs, where")
    commands.add_parser("down", parents=[shape], help="stop it all, keeping the data")
    key = commands.add_parser("key", help="people's and systems' API keys")
    key_commands = key.add_subparsers(dest="key_command", required=True)
    add = key_commands.add_parser("add", parents=[common], help="a new key, printed once")
    add.add_argument("role", choices=[role.value for role in Role])
    add.add_argument("holder", help="whose key: a person (kim, dock-3) or a system (wms-1)")
    add.add_argument("--system", action="store_true", help="a system's key (may say whom it acts for)")
    add.add_argument("--shop", help="the key reaches only this shop's returns")
    key_commands.add_parser("list", parents=[common], help="holders, roles and key ids (never a key)")
    revoke = key_commands.add_parser("revoke", parents=[common], help="every key of one holder")
    revoke.add_argument("holder")
    args = parser.parse_args()
    configure_logging("INFO", "console")
    sys.exit(asyncio.run(_main(args)))


if __name__ == "__main__":
    main()
