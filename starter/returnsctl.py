"""returnsctl: the operator's console. Talks to Temporal directly, through ReturnsClient.

    returnsctl list [--stage S] [--needs-attention] [--older-than DAYS] [--order ID] [--customer ID] [--json]
    returnsctl show R-1001 [--json]
    returnsctl retry R-1001 --reason "shop platform is back"
    returnsctl retry --query "ReturnNeedsAttention = 'true'" --reason "Shippo outage over" [--yes]
    returnsctl approve R-1001 --reason "known customer"        (reject: the same)
    returnsctl cancel R-1001 --reason "fraud"                  (or --query ..., like retry)
    returnsctl override-disposition R-1001 L2 refurbish --reason "repairable after all"
    returnsctl extend R-1001 ship_by 7 --reason "shopper in hospital"

Every action names its operator (`--actor`, default $RETURNS_OPERATOR, else the login
name) and a reason; the return's timeline records both, as `operator:<name>`. Each action
carries an idempotency key (`--idempotency-key`, else a fresh one): run the same command
again with the same key after a timeout and it is answered, not applied twice. Batch
forms list what they will touch and ask before acting (`--yes` skips the question).
Connection settings come from the environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE).
Text a return holds is shown escaped (`\n`, `\x1b`): a reason can't forge a line of `show`.

"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, TypeAdapter

from integrations.log_config import configure_logging
from starter.client import (
    ActorName,
    ReturnsClient,
    actor_id,
)
from starter.errors import (
    ExitCode,
    ReturnNotFoundError,
    ReturnStateError,
    exit_code_for,
    exit_codes_help,
    exit_now,
)
from starter.visibility import ReturnFilter, ReturnSummary
from workflows.models import (
    Acknowledgement,
    Cancellation,
    DeadlineExtension,
    DispositionOverride,
    OperatorAction,
    OtherWay,
    ReturnStatus,
)
from workflows.vocabulary import Disposition, Stage, WayOut

_ROLE = "operator"

Command = Callable[[ReturnsClient, argparse.Namespace], Awaitable[int]]


# --- Views ---------------------------------------------------------------------------------


def _age(since: datetime, now: datetime) -> str:
    minutes = int((now - since).total_seconds() // 60)
    days, hours = divmod(minutes // 60, 24)
    return f"{days}d{hours:02d}h" if days else f"{hours}h{minutes % 60:02d}m"


def shown(text: object) -> str:
    """Text from a return, safe on a terminal: whatever is not printable (line breaks, escape
    sequences, direction overrides) is shown as its escape, so no text can forge a line or a colour."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in str(text))


def _print_table(returns: list[ReturnSummary]) -> None:
    now = datetime.now(UTC)
    rows = [("RETURN", "STAGE", "ATTENTION", "ORDER", "CUSTOMER", "AGE", "STARTED")]
    rows += [
        (
            shown(summary.return_id),
            summary.stage.value if summary.stage else "-",
            "yes" if summary.needs_attention else "",
            shown(summary.order_id or "-"),
            shown(summary.customer_id or "-"),
            _age(summary.started_at, summary.closed_at or now),
            f"{summary.started_at:%Y-%m-%d %H:%M}",
        )
        for summary in returns
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _print_status(status: ReturnStatus) -> None:
    print(f"Return {shown(status.return_id)}  order {shown(status.order_id)}  customer {shown(status.customer_id)}")
    print(f"Stage {status.stage.value}  method {status.method.value}  policy {shown(status.policy_version)}")
    if attention := status.attention:
        print(f"NEEDS ATTENTION since {attention.since:%Y-%m-%d %H:%M}: {shown(attention.reason)}")
        if attention.step:
            error = f"{shown(attention.error_type)}: {shown(attention.message)}"
            print(f"  failed step: {shown(attention.step)} ({error})")
    for name, due in status.deadlines.items():
        print(f"Deadline {shown(name)}: {due:%Y-%m-%d %H:%M} UTC")
    for line in status.lines:
        facts = [f"x{line.quantity}", line.reception.value]
        facts += [f"grade {line.grade.value}"] if line.grade else []
        facts += [f"-> {line.disposition.value}"] if line.disposition else []
        facts += [f"declined: {line.declined.value}"] if line.declined else []
        print(f"  {shown(line.line_id)} {shown(line.sku)}: {', '.join(facts)}")
    print("Timeline:")
    for entry in status.timeline:
        print(f"  {entry.at:%Y-%m-%d %H:%M:%S}  {entry.stage.value:<13} {shown(entry.actor):<20} {shown(entry.detail)}")


def _print_json(model: BaseModel) -> None:
    print(model.model_dump_json(indent=2))


# --- Reading -------------------------------------------------------------------------------


async def list_command(client: ReturnsClient, args: argparse.Namespace) -> int:
    filters = ReturnFilter(
        stage=args.stage,
        order_id=args.order,
        customer_id=args.customer,
        needs_attention=args.needs_attention,
        older_than_days=args.older_than,
        stuck_for_days=args.stuck_for,
    )
    page = await client.list_returns(filters, page_size=args.limit)
    if args.json:
        _print_json(page)
        return ExitCode.ok
    _print_table(page.returns)
    if page.next_page_token:
        print(f"(more than {args.limit}; narrow the filters or raise --limit)")
    return ExitCode.ok


async def show_command(client: ReturnsClient, args: argparse.Namespace) -> int:
    status = await client.status(args.return_id)
    if args.json:
        _print_json(status)
    else:
        _print_status(status)
    return ExitCode.ok


# --- Acting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One operator action: how its payload is built from the arguments, and the client method that sends it."""

    verb: str
    payload: Callable[[argparse.Namespace, str], OperatorAction]
    send: Callable[..., Awaitable[Acknowledgement]]


def _plain(args: argparse.Namespace, actor: str) -> OperatorAction:
    return OperatorAction(actor=actor, reason=args.reason)


ACTIONS = {
    "approve": Action("approve", _plain, ReturnsClient.approve),
    "reject": Action("reject", _plain, ReturnsClient.reject),
    "retry": Action("retry", _plain, ReturnsClient.retry),
    "resolve-otherwise": Action(
        "resolve another way the failed step of",
        lambda args, actor: OtherWay(actor=actor, reason=args.reason, way=args.way),
        ReturnsClient.resolve_otherwise,
    ),
    "cancel": Action(
        "cancel",
        lambda args, actor: Cancellation(actor=actor, reason=args.reason, requested_by="operator"),
        ReturnsClient.cancel,
    ),
    "override-disposition": Action(
        "override the disposition of",
        lambda args, actor: DispositionOverride(
            actor=actor, reason=args.reason, line_id=args.line_id, disposition=args.disposition
        ),
        ReturnsClient.override_disposition,
    ),
    "extend": Action(
        "extend a deadline of",
        lambda args, actor: DeadlineExtension(actor=actor, reason=args.reason, deadline=args.deadline, days=args.days),
        ReturnsClient.extend_deadline,
    ),
}


def _operator(args: argparse.Namespace) -> str:
    name = TypeAdapter(ActorName).validate_python(args.actor)
    return actor_id(_ROLE, name)


async def act_command(client: ReturnsClient, args: argparse.Namespace) -> int:
    action = ACTIONS[args.command]
    payload = action.payload(args, _operator(args))
    if getattr(args, "query", None):
        return await _act_on_many(client, action, payload, args)
    acknowledged = await action.send(client, args.return_id, payload, idempotency_key=_update_id(args))
    print(f"{args.command}: {acknowledged.return_id} is {acknowledged.stage.value}")
    return ExitCode.ok


def _update_id(args: argparse.Namespace) -> str:
    """The action's Temporal update id: the console's own, per command and idempotency key."""
    return f"{args.command}:console:{args.idempotency_key}"


async def _act_on_many(client: ReturnsClient, action: Action, payload: OperatorAction, args: argparse.Namespace) -> int:
    """The batch form: shows what the query matches, asks, then acts on each open return."""
    targets = [summary for summary in await _matching(client, args.query, args.limit) if summary.running]
    if not targets:
        print("no open return matches")
        return ExitCode.ok
    _print_table(targets)
    if not args.yes and not _confirm(f"{action.verb} these {len(targets)} return(s)?"):
        print("nothing done")
        return ExitCode.not_confirmed
    refused = 0
    for summary in targets:
        try:
            acknowledged = await action.send(client, summary.return_id, payload, idempotency_key=_update_id(args))
            print(f"{summary.return_id}: {acknowledged.stage.value}")
        except (ReturnStateError, ReturnNotFoundError) as error:
            refused += 1
            print(f"{summary.return_id}: refused: {error}")
    return ExitCode.partly_refused if refused else ExitCode.ok


async def _matching(client: ReturnsClient, query: str, limit: int) -> list[ReturnSummary]:
    matched: list[ReturnSummary] = []
    token = None
    while len(matched) < limit:
        page = await client.search_returns(query, page_size=min(limit - len(matched), 1000), page_token=token)
        matched += page.returns
        token = page.next_page_token
        if token is None:
            break
    return matched


def _confirm(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:  # no terminal to ask: never act unasked
        return False


# --- Command line ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="returnsctl",
        description=__doc__,
        epilog=exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="returns matching every given filter, newest first")
    listing.add_argument("--stage", type=Stage, choices=list(Stage), metavar="STAGE")
    listing.add_argument("--needs-attention", action="store_true", help="only returns waiting for an operator")
    listing.add_argument("--older-than", type=float, metavar="DAYS", help="only open returns started before")
    listing.add_argument("--stuck-for", type=float, metavar="DAYS", help="only open returns in their stage longer")
    listing.add_argument("--order", metavar="ORDER_ID")
    listing.add_argument("--customer", metavar="CUSTOMER_ID")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=list_command)

    show = commands.add_parser("show", help="a return's status and timeline")
    show.add_argument("return_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=show_command)

    for name in ("retry", "cancel"):
        batchable = _action_parser(commands, name, return_id=False)
        target = batchable.add_mutually_exclusive_group(required=True)
        target.add_argument("return_id", nargs="?")
        target.add_argument("--query", help="a visibility query, e.g. \"ReturnNeedsAttention = 'true'\"")
        batchable.add_argument("--limit", type=int, default=500, help="at most this many returns (batch)")
        batchable.add_argument("--yes", action="store_true", help="act without asking (batch)")
    for name in ("approve", "reject"):
        _action_parser(commands, name)
    other_way = _action_parser(commands, "resolve-otherwise")
    other_way.add_argument(
        "way", type=WayOut, choices=list(WayOut), metavar="WAY", help="store_credit, close_unresolved"
    )
    override = _action_parser(commands, "override-disposition")
    override.add_argument("line_id")
    override.add_argument("disposition", type=Disposition, choices=list(Disposition), metavar="DISPOSITION")
    extend = _action_parser(commands, "extend")
    extend.add_argument("deadline", help="a deadline shown by `show` (ship_by, review, inspection_sla, ...)")
    extend.add_argument("days", type=int)
    return parser


def _action_parser(commands: Any, name: str, *, return_id: bool = True) -> argparse.ArgumentParser:
    action = commands.add_parser(name, help=f"{ACTIONS[name].verb} a return")
    if return_id:
        action.add_argument("return_id")
    action.add_argument("--reason", required=True, help="why; recorded in the timeline")
    action.add_argument(
        "--actor",
        default=os.environ.get("RETURNS_OPERATOR") or getpass.getuser(),
        help="who acts (default: $RETURNS_OPERATOR, else the login name)",
    )
    action.add_argument(
        "--idempotency-key",
        default=uuid.uuid4().hex,
        help="the same key again answers the earlier action instead of acting twice (default: a new one)",
    )
    action.set_defaults(run=act_command)
    return action


async def _run(args: argparse.Namespace) -> int:
    client = await ReturnsClient.connect()
    try:
        return await args.run(client, args)
    except Exception as error:
        code = exit_code_for(error)
        if code is None:
            raise
        print(f"{code.name.replace('_', ' ')}: {error}", file=sys.stderr)
        return code
    finally:
        await client.aclose()


def main() -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `returnsctl list | head` ends quietly, like other tools
    configure_logging("WARNING")
    exit_now(asyncio.run(_run(build_parser().parse_args())))


if __name__ == "__main__":
    main()
