"""The shopper's portal, timed: each page's answer time, and the round trips from lookup to confirmation.

    python -m bench.portal [--journeys 30]

Starts the local stack on free ports (Temporal dev server, sandboxes, worker, API) and walks
`--journeys` returns through the portal as a browser without JavaScript would (forms and
redirects, cookies kept; no images or stylesheet). Prints each page's p50/p95 answer time as a
client on the same machine sees it (the API's own time plus a localhost round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import time
from collections import defaultdict

import httpx

from devstack.checkout import SHOPPER_EMAIL, checkout
from devstack.stack import LOAD_SERVER_ARGS, LocalStack, Ports

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_RETURN_ID = re.compile(r'name="return_id" value="([^"]+)"')


class TimedBrowser:
    def __init__(self, http: httpx.AsyncClient, timings: dict[str, list[float]]):
        self.http = http
        self.timings = timings
        self.round_trips = 0
        self.page = ""
        self.last_url: httpx.URL | None = None

    async def visit(self, name: str, method: str, path: str, form: dict[str, str] | None = None) -> None:
        """One request and, after a form, the redirect it answers with: each timed under its page's name."""
        if form is not None:
            form = {"csrf_token": _CSRF.search(self.page).group(1), **form}
        started = time.perf_counter()
        response = await self.http.request(method, path, data=form)
        self.last_url = response.url
        self.timings[name].append((time.perf_counter() - started) * 1000)
        self.round_trips += 1
        if response.status_code == 303:
            await self.visit(
                f"{name} -> {response.headers['location'].split('?')[0].split('/')[2]}",
                "GET",
                response.headers["location"],
            )
            return
        response.raise_for_status()
        self.page = response.text


async def journey(stack: LocalStack, timings: dict[str, list[float]], number: int) -> int:
    order_id = (await checkout(stack.settings, f"BENCH-PORTAL-{number}")).order_id
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
        browser = TimedBrowser(http, timings)
        await browser.visit("lookup page", "GET", "/portal")
        browser.round_trips = 0  # counted from the lookup on
        await browser.visit("lookup", "POST", "/portal/lookup", {"order_number": order_id, "contact": SHOPPER_EMAIL})
        await browser.visit("items", "POST", "/portal/items", {"quantity-L1": "2", "reason-L1": "size_too_large"})
        await browser.visit("method", "POST", "/portal/method", {"method": "mail_label", "outcome": "refund"})
        return_id = _RETURN_ID.search(browser.page).group(1)
        await browser.visit("confirm", "POST", "/portal/confirm", {"return_id": return_id})
        trips = browser.round_trips
        status_page = str(browser.last_url).split("?")[0]
        await asyncio.sleep(0.5)  # the label is bought meanwhile
        await browser.visit("status page (later)", "GET", status_page)
        return trips


async def main(journeys: int) -> None:
    timings: dict[str, list[float]] = defaultdict(list)
    # Every journey comes from this one address: lift its lookup limit (each order is looked up once).
    lifted = {"portal_lookups_per_address": "100000/minute"}
    async with LocalStack(ports=Ports.free(), ui=False, overrides=lifted, server_args=LOAD_SERVER_ARGS) as stack:
        await journey(stack, defaultdict(list), 0)  # warm up: imports, connections, the worker's first tasks
        trips = [await journey(stack, timings, number) for number in range(1, journeys + 1)]
    print(f"{journeys} journeys; round trips from lookup to confirmation: {trips[0]} (requests, redirects included)")
    print(f"{'page':<24}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}")
    for name, times in timings.items():
        p95 = statistics.quantiles(times, n=20)[18] if len(times) > 1 else times[0]
        print(f"{name:<24}{statistics.median(times):>8.1f}{p95:>8.1f}{max(times):>8.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--journeys", type=int, default=30)
    asyncio.run(main(parser.parse_args().journeys))
