"""`python -m store migrate [--url URL]`: brings a store's schema to the newest revision."""

from __future__ import annotations

import argparse
import sys

from store.db import store_url
from store.migrate import current_revision, migrate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m store")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("migrate", help="upgrade the schema (default: to the newest revision)")
    up.add_argument("--url", default=store_url(), help="default: EVENT_STORE_URL or sqlite:///.run/returns.db")
    up.add_argument("--revision", default="head")
    args = parser.parse_args(argv)
    migrate(args.url, args.revision)
    print(f"store at revision {current_revision(args.url)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
