"""The return's events, appended to the event store (store/)."""

from __future__ import annotations

import asyncio

import structlog
from temporalio import activity

from store.events import ReturnEvent
from store.store import EventConflictError, EventStore

log = structlog.get_logger(__name__)


class EventActivities:
    def __init__(self, store: EventStore):
        self._store = store

    @activity.defn(name="record_events")
    async def record_events(self, events: list[ReturnEvent]) -> int:
        """Appends a return's events (in sequence); answers how many were new. Idempotent: an
        event's id is its return and sequence, so a retried or replayed batch stores nothing twice."""
        appended = await asyncio.to_thread(self._append, events)
        return sum(1 for created in appended if created)

    def _append(self, events: list[ReturnEvent]) -> list[bool]:
        try:
            return [appended.created for appended in self._store.append_many(events)]
        except EventConflictError:
            # Only a reset run (an operator's `temporal workflow reset`) can say something else under
            # an id already stored: the stored event stands, the rest of the batch is still appended.
            created = []
            for event in events:
                try:
                    created.append(self._store.append(event).created)
                except EventConflictError:
                    log.warning("event already stored differently", return_id=event.return_id, event_id=event.id)
                    created.append(False)
            return created
