"""Starts a return from a JSON file, or shows one's status.

    returns-start request.json        # prints the workflow id; the same file twice is one return
    returns-start --status R-1001     # prints the status as JSON

Exit codes: 0 done, 2 invalid input (nothing was started), 3 unknown return.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from pydantic import ValidationError

from starter.client import ReturnsClient
from starter.errors import ReturnNotFoundError
from workflows.models import ReturnRequest


async def _show_status(return_id: str) -> int:
    client = await ReturnsClient.connect()
    try:
        status = await client.status(return_id)
    except ReturnNotFoundError as error:
        print(error, file=sys.stderr)
        return 3
    print(status.model_dump_json(indent=2))
    return 0


async def _start(request: ReturnRequest) -> int:
    client = await ReturnsClient.connect()
    print(await client.start_return(request))
    return 0


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
        sys.exit(asyncio.run(_show_status(args.status)))
    request = _read_request(args.request)
    sys.exit(2 if request is None else asyncio.run(_start(request)))


if __name__ == "__main__":
    main()
