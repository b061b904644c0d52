"""Starts a return from a JSON file, or shows one's status.

    returns-start request.json        # prints the workflow id; the same file twice is one return
    returns-start --status R-1001     # prints the status as JSON

Exit codes: see `ExitCode` in starter/errors.py (and the README): 0 done, 2 invalid input
(nothing was started), 3 unknown return, 6 no answer in time (try again), 7 another request
already started a return under this id.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import ValidationError

from starter.client import ReturnsClient
from starter.errors import ExitCode, exit_code_for
from workflows.models import ReturnRequest


async def _show_status(client: ReturnsClient, return_id: str) -> None:
    print((await client.status(return_id)).model_dump_json(indent=2))


async def _start(client: ReturnsClient, request: ReturnRequest) -> None:
    await client.ensure_order_known(request)
    print((await client.start(request)).workflow_id)


async def _run(command: Callable[[ReturnsClient], Awaitable[None]]) -> int:
    client = await ReturnsClient.connect()
    try:
        await command(client)
    except Exception as error:
        code = exit_code_for(error)
        if code is None:
            raise
        print(error, file=sys.stderr)
        return code
    finally:
        await client.aclose()
    return ExitCode.ok


def _read_request(path: str) -> ReturnRequest | None:
    try:
        return ReturnRequest.model_validate_json(Path(path).read_bytes())
    except (OSError, ValidationError) as error:
        print(f"invalid return request {path}:\n{error}", file=sys.stderr)
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("request", nargs="?", help="path to a ReturnRequest JSON file")
    group.add_argument("--status", metavar="RETURN_ID", help="print a return's status")
    args = parser.parse_args()
    if args.status:
        sys.exit(asyncio.run(_run(lambda client: _show_status(client, args.status))))
    request = _read_request(args.request)
    if request is None:
        sys.exit(ExitCode.invalid_input)
    sys.exit(asyncio.run(_run(lambda client: _start(client, request))))


if __name__ == "__main__":
    main()
