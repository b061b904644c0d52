"""A pooled connection the shop platform closed as the next request went out (keep-alive races
under load: found by the chaos and fuzz runs as a 503 "shop.network" at the door). Reads and keyed
writes are sent again at once on a fresh connection; an unkeyed write is not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from integrations.errors import IntegrationError
from integrations.settings import Settings
from integrations.shop import ShopPlatform

RESERVED = b'{"return_id": "R-1"}'


class ClosingPlatform:
    """Answers the first request on each connection, then drops the connection when the next one
    arrives on it, without an answer: what a server's keep-alive timeout looks like from the client."""

    def __init__(self) -> None:
        self.requests = 0
        self.connections = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = False
        while await self._read_request(reader):
            self.requests += 1
            if answered:
                break
            head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(RESERVED)}\r\n\r\n"
            writer.write(head.encode() + RESERVED)
            await writer.drain()
            answered = True
        writer.close()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:  # the client closed the connection
            return False
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
        )
        await reader.readexactly(length)
        return True


@pytest.fixture
async def platform() -> AsyncIterator[tuple[ClosingPlatform, ShopPlatform]]:
    closing = ClosingPlatform()
    server = await asyncio.start_server(closing.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    shop = ShopPlatform(Settings(vendor_mode="sandbox", shop_api_base=f"http://127.0.0.1:{port}"))
    try:
        yield closing, shop
    finally:
        await shop.aclose()
        server.close()


async def test_a_read_on_a_connection_the_platform_closed_is_sent_again(
    platform: tuple[ClosingPlatform, ShopPlatform],
) -> None:
    closing, shop = platform
    assert await shop.return_was_reserved("O-1", "R-1")
    assert await shop.return_was_reserved("O-1", "R-1")  # the pooled connection is dropped: sent again
    assert (closing.requests, closing.connections) == (3, 2)


async def test_an_unkeyed_write_is_not_sent_twice(platform: tuple[ClosingPlatform, ShopPlatform]) -> None:
    closing, shop = platform
    assert await shop.return_was_reserved("O-1", "R-1")
    with pytest.raises(IntegrationError) as refused:
        await shop.release_quantities("O-1", "R-1")
    assert refused.value.code == "shop.network" and refused.value.retryable
    assert closing.requests == 2
