"""Runs the Stripe, Shippo and shop-platform sandboxes in one process, each on its own port.

returns-sandboxes [--stripe-port 12111] [--shippo-port 12112] [--shop-port 12113]
"""

from __future__ import annotations

import argparse
import asyncio

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
    args = parser.parse_args()
    configure_logging("WARNING")
    ports = {name: getattr(args, f"{name}_port") for name in SANDBOX_PORTS}
    asyncio.run(serve(args.host, ports))


if __name__ == "__main__":
    main()
