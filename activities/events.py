"""The return's events, appended to the event store (store/), and handed to their subscribers."""

from __future__ import annotations

import asyncio

import structlog
from temporalio import activity

from integrations.settings import Settings
from starter.subscriptions import send_deliveries
from store.events import ReturnEvent
from store.store import EventConflictError, EventStore
from store.webhooks import Deliveries, Delivery

log = structlog.get_logger(__name__)


class EventActivities:
    def __init__(self, store: EventStore, settings: Settings):
        self._store = store
        self._settings = settings
        self._deliveries = Deliveries(store.engine) if store is not None else None

    @activity.defn(name="record_event")
    async def record_event(self, event: ReturnEvent) -> bool:
        """Appends one event of a return; answers whether it was new. Idempotent: an event's id is
        its return and sequence, so a retried or replayed append stores nothing twice. Then its
        subscribers' deliveries are queued, in sequence (see `_deliveries_due`)."""
        created = await asyncio.to_thread(self._append, event)
        due = await asyncio.to_thread(self._deliveries_due, event)
        if due:
            await send_deliveries(activity.client(), self._settings, due)
        return created

    def _append(self, event: ReturnEvent) -> bool:
        try:
            return self._store.append(event).created
        except EventConflictError:
            # Only a reset run (an operator's `temporal workflow reset`) can say something else under
            # an id already stored: the stored event stands.
            log.warning("event already stored differently", return_id=event.return_id, event_id=event.id)
            return False

    def _deliveries_due(self, event: ReturnEvent) -> list[Delivery]:
        """Deliveries of this event and of later ones that waited for it: a return's events are
        appended by concurrent activities, so an event is handed to subscribers only once every
        earlier one is stored. Queued again on a retry: harmless (a delivered one isn't resent)."""
        if not self._deliveries.subscriptions.list():
            return []
        stored = self._store.events_of(event.return_id)
        due: list[Delivery] = []
        for expected, stored_event in enumerate(stored, start=1):
            if stored_event.sequence != expected:
                break  # an earlier event is still on its way: its own append queues what follows
            if stored_event.sequence >= event.sequence:
                due += [delivery for delivery in self._deliveries.enqueue(stored_event) if delivery.attempts == 0]
        return due
