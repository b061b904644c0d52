"""The store's commands.

python -m store migrate [--url URL] [--revision REV]   brings a store's schema to a revision (default: newest)
python -m store copy-sales [--days 7] [--url URL]      copies the shop platform's units sold per day and SKU
                                                       (SHOP_API_BASE) for the last days, today included;
                                                       run it nightly for return rates
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from integrations.settings import get_settings
from store.db import store_url
from store.migrate import current_revision, migrate
from store.sales import copy_recent_sales


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m store", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("migrate", help="upgrade the schema (default: to the newest revision)")
    up.add_argument("--url", default=None, help="default: EVENT_STORE_URL or sqlite:///.run/returns.db")
    up.add_argument("--revision", default="head")
    sales = commands.add_parser("copy-sales", help="copy units sold per day and SKU from the shop platform")
    sales.add_argument("--url", default=None, help="default: EVENT_STORE_URL or sqlite:///.run/returns.db")
    sales.add_argument("--days", type=int, default=7, choices=range(1, 367), metavar="1..366")
    args = parser.parse_args(argv)
    url = args.url or store_url()
    if args.command == "migrate":
        migrate(url, args.revision)
        print(f"store at revision {current_revision(url)}")
    else:
        copied = asyncio.run(copy_recent_sales(get_settings(), args.days, url))
        print(f"copied {copied} rows of units sold ({args.days} days)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
