"""One port in front of the API processes: each connection goes to the next process in turn; a process
that refuses the connection (stopped, killed, still starting) is skipped for the next one.

    python -m deploy.balancer --listen 127.0.0.1:18000 --backend 127.0.0.1:18001 --backend 127.0.0.1:18002

Why a balancer rather than the processes sharing the port: `returns-api` binds its own socket
(`uvicorn.run(app, host, port)`), so neither uvicorn's `--workers` (which needs an import string)
nor SO_REUSEPORT (which needs the socket made by us) is open to it unchanged. A balancer keeps the
API processes exactly as users run them, each one started and killed on its own, the way they sit
behind a load balancer in any real deployment. It works on TCP, so it sees no request and no key.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal

import structlog

from integrations.log_config import configure_logging

log = structlog.get_logger("deploy.balancer")

CONNECT_TIMEOUT_SECONDS = 2.0
CHUNK = 64 * 1024


class Balancer:
    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self.backends = backends
        self._turn = itertools.cycle(range(len(backends)))

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream = await self._connect()
        if upstream is None:
            log.error("no API process accepts connections", backends=len(self.backends))
            client_writer.close()
            return
        upstream_reader, upstream_writer = upstream
        await asyncio.gather(
            _pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer), return_exceptions=True
        )
        for writer in (client_writer, upstream_writer):
            writer.close()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self.backends)):
            host, port = self.backends[next(self._turn)]
            try:
                return await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_SECONDS)
            except (OSError, TimeoutError) as error:
                log.warning("API process unreachable: trying the next", backend=f"{host}:{port}", error=str(error))
        return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copies until end of stream, then passes the half-close on (HTTP keep-alive relies on it)."""
    try:
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()  # the other side died: end this side too, so its peer sees it at once


def parse_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


async def serve(listen: tuple[str, int], backends: list[tuple[str, int]]) -> None:
    balancer = Balancer(backends)
    server = await asyncio.start_server(balancer.handle, *listen, reuse_address=True)
    log.info("balancer listening", listen=f"{listen[0]}:{listen[1]}", backends=[f"{h}:{p}" for h, p in backends])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    log.info("balancer stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", type=parse_address, required=True)
    parser.add_argument("--backend", type=parse_address, action="append", required=True)
    args = parser.parse_args()
    configure_logging("INFO", "json")
    asyncio.run(serve(args.listen, args.backend))


if __name__ == "__main__":
    main()
