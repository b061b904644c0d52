"""Outbound webhooks through a receiver's outage, on the time-skipping server with the production
worker: a 10-minute outage delays a return's events and loses none, each arriving once, in sequence
order; an endpoint failing for the whole give-up window is disabled, and its deliveries fail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integrations.settings import Settings
from starter.event_signatures import EVENT_ID_HEADER
from starter.subscriptions import send_deliveries
from store.events import EventType
from store.store import EventStore
from store.webhooks import Deliveries, Outcome, Subscriptions, SubscriptionState
from tests.conftest import Sandboxes
from tests.integration.store.builders import Script, line


@pytest.fixture(scope="module")
def settings(sandboxes: Sandboxes, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The default retry schedule (10 s doubling to an hour, for 72 hours); a store of the module's own,
    so no other module's events are queued for these receivers."""
    store = tmp_path_factory.mktemp("outage") / "events.db"
    return sandboxes.settings(
        task_queue="returns-webhook-outage", event_store_url=f"sqlite:///{store}", webhook_allow_private_urls=True
    )


@pytest.fixture(scope="module")
def store(settings: Settings) -> EventStore:
    return EventStore.open(settings.event_store_url.get_secret_value(), migrate=True)


@dataclass
class Receiver:
    """An endpoint on loopback that answers by the Temporal server's (skipped) clock."""

    env: WorkflowEnvironment
    answer_at: Callable[[datetime], int]  # the status to answer at a moment
    url: str = ""
    seen: list[tuple[str, int, datetime]] = field(default_factory=list)  # event id, status answered, when
    errors: list[str] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._answer(reader, writer)
        except Exception as error:  # a broken test receiver shows here, not as a "no answer" retried
            self.errors.append(repr(error))
            raise

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers: dict[str, str] = {}
        await reader.readline()
        while (header := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        await reader.readexactly(int(headers.get("content-length", "0")))
        now = await self.env.get_current_time()
        status = self.answer_at(now)
        self.seen.append((headers[EVENT_ID_HEADER.lower()], status, now))
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    def delivered(self) -> list[str]:
        return [event_id for event_id, status, _ in self.seen if status == 200]


@pytest.fixture
async def subscribed(store: EventStore) -> AsyncIterator[Callable[[Receiver], asyncio.Future]]:
    """Serves a receiver and subscribes it to every event; both off after the test."""
    servers: list[asyncio.Server] = []
    subscriptions = Subscriptions(store.engine)
    made: list[str] = []

    async def subscribe(receiver: Receiver) -> str:
        server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
        servers.append(server)
        receiver.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks"
        made.append(subscriptions.create(receiver.url).subscription.id)
        return made[-1]

    yield subscribe
    for subscription_id in made:
        subscriptions.disable(subscription_id, "the test is over")
    for server in servers:
        server.close()
        await server.wait_closed()


async def _until_settled(env: WorkflowEnvironment, store: EventStore, subscription_id: str, return_id: str) -> None:
    """Skips time until none of the return's deliveries is pending (at most a week of it)."""
    deliveries = Deliveries(store.engine)
    for _ in range(7 * 24):
        queued = deliveries.of_return(subscription_id, return_id)
        if queued and all(delivery.outcome is not Outcome.pending for delivery in queued):
            return
        await env.sleep(timedelta(hours=1))
    raise AssertionError(f"{return_id}'s deliveries still pending after a week")


async def _events_queued(env: WorkflowEnvironment, settings: Settings, store: EventStore, return_id: str) -> list:
    """A return's first three events, stored and queued for delivery as the workflow's activity does."""
    script = Script(return_id, customer="C-1", lines=[line("L1", "S-TEE", "apparel", "size_too_small", 1, 2000)])
    script.step(EventType.requested, "2026-12-01 10:00")
    script.step(EventType.approved, "2026-12-01 10:00:30", stage="approved")
    script.step(EventType.label_issued, "2026-12-01 10:01", stage="label_issued")
    deliveries = Deliveries(store.engine)
    for event in script.events:
        store.append(event)
        await send_deliveries(env.client, settings, deliveries.enqueue(event))
    return script.events


async def test_a_ten_minute_outage_delays_a_returns_events_in_order_and_loses_none(
    time_skipping_env: WorkflowEnvironment, worker: Worker, settings: Settings, store: EventStore, subscribed
) -> None:
    env = time_skipping_env
    back_at = await env.get_current_time() + timedelta(minutes=10)
    receiver = Receiver(env, lambda now: 503 if now < back_at else 200)
    subscription_id = await subscribed(receiver)
    events = await _events_queued(env, settings, store, "OUTAGE-1")

    await _until_settled(env, store, subscription_id, "OUTAGE-1")

    ids = [event.id for event in events]
    assert receiver.errors == []
    assert receiver.delivered() == ids, "each event once, in sequence order"
    failed = [(event_id, when) for event_id, status, when in receiver.seen if status == 503]
    assert failed and {event_id for event_id, _ in failed} == {ids[0]}, "later events waited for the first"
    assert max(when for _, when in failed) < back_at <= min(when for _, s, when in receiver.seen if s == 200)
    assert len(failed) >= 5  # 10 s, 20 s, 40 s, ... (jittered): about six waits fill ten minutes
    logged = Deliveries(store.engine).of_return(subscription_id, "OUTAGE-1")
    assert [(d.sequence, d.outcome) for d in logged] == [
        (1, Outcome.delivered),
        (2, Outcome.delivered),
        (3, Outcome.delivered),
    ]
    assert len(Deliveries(store.engine).attempts(logged[0].id)) == len(failed) + 1
    assert Subscriptions(store.engine).get(subscription_id).state is SubscriptionState.enabled


async def test_an_endpoint_failing_for_the_whole_window_is_disabled_with_its_reason(
    time_skipping_env: WorkflowEnvironment, worker: Worker, settings: Settings, store: EventStore, subscribed
) -> None:
    env = time_skipping_env
    started = await env.get_current_time()
    receiver = Receiver(env, lambda _: 500)
    subscription_id = await subscribed(receiver)
    await _events_queued(env, settings, store, "DOWN-1")

    await _until_settled(env, store, subscription_id, "DOWN-1")

    disabled = Subscriptions(store.engine).get(subscription_id)
    assert disabled.state is SubscriptionState.disabled and "kept failing" in (disabled.disabled_reason or "")
    last_try = max(when for _, _, when in receiver.seen)
    window = timedelta(hours=settings.webhook_give_up_after_hours)
    assert window - timedelta(hours=2) < last_try - started <= window  # retried to the end of the window
    assert receiver.errors == [] and receiver.delivered() == []
    logged = Deliveries(store.engine).of_return(subscription_id, "DOWN-1")
    assert [d.outcome for d in logged] == [Outcome.failed] * 3  # the later two: their endpoint is off
