"""Runs the Stripe, Shippo and shop-platform sandboxes in one process, each on its own port.

returns-sandboxes [--stripe-port 12111] [--shippo-port 12112] [--shop-port 12113] [--smtp-port 1025 --mail-dir DIR]

With `--smtp-port`, an SMTP sink too (sandboxes/smtp_sink.py): each message it is sent lands in `--mail-dir`.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import uvicorn

from integrations.log_config import configure_logging
from integrations.settings import SANDBOX_HOST, SANDBOX_PORTS
from sandboxes import shippo_sandbox, shop_sandbox, stripe_sandbox


async def serve(host: str, ports: dict[str, int]) -> None:
    apps = {
        "stripe": stripe_sandbox.create_app(),
        "shippo": shippo_sandbox.create_app(),
        "shop": shop_sandbox.create_app(),
    }
    servers = [
        uvicorn.Server(uvicorn.Config(apps[name], host=host, port=port, log_level="warning"))
        for name, port in ports.items()
    ]
    await asyncio.gather(*(server.serve() for server in servers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=SANDBOX_HOST)
    for name, port in SANDBOX_PORTS.items():
        parser.add_argument(f"--{name}-port", type=int, default=port)
    parser.add_argument("--smtp-port", type=int, help="also run the SMTP sink on this port")
    parser.add_argument("--mail-dir", type=Path, default=Path(".run/mail"), help="where the SMTP sink keeps messages")
    args = parser.parse_args()
    configure_logging("WARNING")
    if args.smtp_port:
        from sandboxes import smtp_sink  # aiosmtpd: a development dependency

        smtp_sink.start(args.host, args.smtp_port, args.mail_dir)
    ports = {name: getattr(args, f"{name}_port") for name in SANDBOX_PORTS}
    asyncio.run(serve(args.host, ports))


if __name__ == "__main__":
    main()
