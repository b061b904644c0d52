"""Every delivery attempt checks its URL again: a subscription made while its name resolved to a public
address posts nothing once the name resolves into the shop's own network (DNS rebinding)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import ActivityEnvironment

from activities.deliveries import DeliveryActivities
from activities.models import DeliveryAttempt, DeliveryVerdict
from store.store import EventStore
from store.webhooks import Deliveries, Outcome, Subscriptions
from tests.integration.store.dataset import march_2025


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A loopback endpoint answering 200 to anything, recording each request's first line."""
    received: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.readline())
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://localhost:{port}/hooks", received


async def test_a_url_now_reaching_loopback_gets_nothing_and_is_retried(tmp_path, receiver) -> None:
    url, received = receiver
    store = EventStore.open(f"sqlite:///{tmp_path / 'events.db'}", migrate=True)
    subscription = Subscriptions(store.engine).create(url, ["requested"]).subscription  # allowed when made
    requested = march_2025()[0].events[0]
    store.append(requested)
    (delivery,) = Deliveries(store.engine).enqueue(requested)
    attempt = DeliveryAttempt(
        delivery_id=delivery.id, backoff_seconds=10, give_up_at=datetime.now(UTC) + timedelta(days=3)
    )

    refusing = DeliveryActivities(store, allow_private_urls=False)
    outcome = await ActivityEnvironment().run(refusing.attempt_delivery, attempt)
    await refusing.aclose()
    assert outcome.verdict is DeliveryVerdict.retry and received == []
    (logged,) = Deliveries(store.engine).attempts(delivery.id)
    assert logged.status_code is None and "not sent" in logged.error and "private or loopback" in logged.error
    assert Deliveries(store.engine).get(delivery.id).outcome is Outcome.pending
    assert Subscriptions(store.engine).get(subscription.id).state.value == "enabled"

    allowing = DeliveryActivities(store, allow_private_urls=True)  # the local stack's setting
    outcome = await ActivityEnvironment().run(allowing.attempt_delivery, attempt)
    await allowing.aclose()
    assert outcome.verdict is DeliveryVerdict.delivered
    assert received == [b"POST /hooks HTTP/1.1\r\n"]
    store.close()
