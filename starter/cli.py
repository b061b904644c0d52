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

from starter.client import ReturnNotFoundError, ReturnsClient
from workflows.models import ReturnRequest


async def _main(args: argparse.Namespace) -> int:
    if args.status:
        client = await ReturnsClient.connect()
        try:
            status = await client.status(args.status)
        except ReturnNotFoundError as error:
            print(error, file=sys.stderr)
            return 3
        print(status.model_dump_json(indent=2))
        return 0
    try:
        request = ReturnRequest.model_validate_json(Path(args.request).read_bytes())
    except (OSError, ValidationError) as error:
        print(f"invalid return request {args.request}:\n{error}", file=sys.stderr)
        return 2
    client = await ReturnsClient.connect()
    print(await client.start_return(request))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("request", nargs="?", help="path to a ReturnRequest JSON file")
    group.add_argument("--status", metavar="RETURN_ID", help="print a return's status")
    sys.exit(asyncio.run(_main(parser.parse_args())))


if __name__ == "__main__":
    main()
