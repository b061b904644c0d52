"""`make run`: the whole system on this machine, with one demo return walked through its doors.

Starts the official Temporal CLI dev server (SQLite file under .run/, Web UI on), the Stripe,
Shippo and shop-platform sandboxes, a webhook receiver subscribed to every return event, a
worker process and the HTTP API process; walks the demo return through the doors, shows its
events arriving at the receiver; then keeps everything up until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import UTC, datetime

import httpx

from devstack.checkout import SHOPPER, SHOPPER_EMAIL, checkout
from devstack.demo import print_outcome, run_demo
from devstack.stack import LOCAL_KEYS, ROOT, LocalStack
from integrations.log_config import configure_logging
from sandboxes.smtp_sink import read_mail
from store.sales import copy_recent_sales


async def _run(args: argparse.Namespace) -> None:
    stack = LocalStack(db_file=ROOT / ".run" / "temporal.db")
    print(f"starting Temporal dev server, sandboxes, worker and API (logs in {stack.log_dir}) ...", flush=True)
    async with stack:
        status = await run_demo(stack.settings, stack.api_url)
        print_outcome(status)
        await copy_recent_sales(stack.settings, days=30)  # the dashboard's return rates: units sold, as nightly
        await print_deliveries(stack, status.return_id)
        await print_emails(stack, status.return_id)
        print_doors(stack, status.return_id)
        # An order of its own for the portal: the demo's return took every unit of the demo's order.
        portal_order = (await checkout(stack.settings, f"PORTAL-{datetime.now(UTC):%H%M%S}")).order_id
        print_portal(stack, portal_order)
        print_console(stack, status.return_id)
        if args.exit_after_demo:
            return
        print("Everything keeps running; press Ctrl-C to stop it all.", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        print("\nstopping ...", flush=True)


async def print_deliveries(stack: LocalStack, return_id: str) -> None:
    """The demo's events as the local receiver got them: signed, verified, in sequence."""
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(100):  # deliveries go out beside the return, a moment behind it
            arrived = (await http.get(f"{stack.receiver_url}/_receiver/events", params={"return_id": return_id})).json()
            if arrived and arrived[-1]["type"] == "completed":
                break
            await asyncio.sleep(0.1)
    print(f"\nEvents delivered to the local receiver ({stack.receiver_url}/events, signatures verified):")
    for seen in arrived:
        print(f"  {seen['received_at'][11:19]}  #{seen['sequence']:<3} {seen['type']:<17} {seen['event_id']}")


async def print_emails(stack: LocalStack, return_id: str) -> None:
    """What the shopper was told by email (the SMTP sink keeps it), once the refund's news is in."""
    for _ in range(50):  # the last email goes out beside the return's completion
        told = [m for m in read_mail(stack.mail_dir) if return_id in m.get_body(("plain",)).get_content()]
        if any(message["Subject"].startswith("We refunded") for message in told):
            break
        await asyncio.sleep(0.1)
    print(f"\nEmails to the shopper ({stack.mail_dir}, through the SMTP sink):")
    for message in told:
        print(f"  {message['To']:<18} {message['Subject']}")
    print()


def print_doors(stack: LocalStack, return_id: str) -> None:
    """Where to look next, as commands to paste (the keys are the local stack's own)."""
    api, temporal = stack.api_url, f"127.0.0.1:{stack.ports.temporal}"
    keys = {grant.holder: key for key, grant in LOCAL_KEYS.items()}
    storefront, operator = keys["shop-web"], keys["kim"]
    lines = [
        f"\nHTTP API:        {api}/docs   (OpenAPI: {api}/openapi.json)",
        f"  curl -H 'X-API-Key: {storefront}' {api}/v1/returns/{return_id}/timeline",
        f"  curl -H 'X-API-Key: {storefront}' '{api}/v1/returns?customer_id=CUS-ada'",
        f"  curl -H 'X-API-Key: {operator}' '{api}/v1/returns?needs_attention=true'",
        f"  curl -H 'X-API-Key: {operator}' '{api}/v1/reports/money?format=csv'",
        f"  curl -H 'X-API-Key: {operator}' {api}/v1/event-subscriptions",
        f"Webhook receiver: curl {stack.receiver_url}/_receiver/events",
        "Operator command line:",
        f"  TEMPORAL_ADDRESS={temporal} .venv/bin/returnsctl list",
        f"  TEMPORAL_ADDRESS={temporal} .venv/bin/returnsctl show {return_id}",
        f"Temporal Web UI: http://127.0.0.1:{stack.ports.ui}/namespaces/default/workflows",
        f"  temporal workflow list --address {temporal} -q \"ReturnStage = 'completed'\"",
    ]
    print("\n".join(lines), flush=True)


def print_portal(stack: LocalStack, order_id: str) -> None:
    print(
        f"Shopper's returns portal: {stack.api_url}/portal\n"
        f"  order number {order_id}, email {SHOPPER_EMAIL} (or postal code {SHOPPER.zip})\n"
        f"  its emails land in {stack.mail_dir}/*.eml (the SMTP sink on :{stack.ports.smtp})",
        flush=True,
    )


def print_console(stack: LocalStack, return_id: str) -> None:
    """The web console's address and a demo login per role (each a person's own local key)."""
    keys = {grant.holder: key for key, grant in LOCAL_KEYS.items()}
    print(
        f"Operations console: {stack.api_url}/console\n"
        f"  operator kim signs in with the key {keys['kim']}\n"
        f"    the demo return: {stack.api_url}/console/returns/{return_id}\n"
        f"  warehouse dock-3 signs in with the key {keys['dock-3']}  (receiving: scan a tracking number or return id)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exit-after-demo", action="store_true", help="stop everything once the demo is done")
    configure_logging("WARNING")
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
