"""Reading workflow histories: following one as the server writes it, and measuring one.

The benchmark learns that a return took a step from its history, long-polled from the
server, rather than by querying it: a query is a task for the worker under test, the
history is not.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle

EventPredicate = Callable[[HistoryEvent], bool]
STEP_TIMEOUT = 120.0  # seconds for one step of one return, however loaded the machine


class WorkflowClosedError(RuntimeError):
    pass


class HistoryFollower:
    """One workflow's history, event by event, as it grows (GetWorkflowExecutionHistory with
    wait_new_event), keeping track of which messages (signals, updates) the workflow acted on."""

    def __init__(self, handle: WorkflowHandle) -> None:
        self._events = handle.fetch_history_events(wait_new_event=True)
        self._workflow_id = handle.id
        self._messages = 0
        self._last_signal_id = 0
        self._last_task_started_id = 0

    async def until(self, predicate: EventPredicate, timeout: float = STEP_TIMEOUT) -> HistoryEvent:
        """Reads events until one matches `predicate`; returns it."""
        async with asyncio.timeout(timeout):
            async for event in self._events:
                self._observe(event)
                if predicate(event):
                    return event
        raise WorkflowClosedError(f"{self._workflow_id} closed before the awaited event")

    async def until_messages_processed(self, count: int, timeout: float = STEP_TIMEOUT) -> None:
        """Waits until `count` messages are in the history and a workflow task that started
        after the last signal among them has completed: the workflow has acted on all of them
        (an update is written once its handler has run)."""
        if not self._processed(count):
            await self.until(lambda _: self._processed(count), timeout)

    def _processed(self, count: int) -> bool:
        return self._messages >= count and self._last_task_started_id > self._last_signal_id

    def _observe(self, event: HistoryEvent) -> None:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            self._messages += 1
            self._last_signal_id = event.event_id
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            self._messages += 1
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            self._last_task_started_id = event.workflow_task_completed_event_attributes.started_event_id


def upserted_keyword(event: HistoryEvent, name: str) -> str | None:
    """The value a search-attribute upsert event sets for the keyword `name`, if it sets it."""
    if event.event_type != EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        return None
    fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    return json.loads(fields[name].data) if name in fields else None


def is_completion(event: HistoryEvent) -> bool:
    return event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED


def is_activity_scheduled(event: HistoryEvent, activity_type: str) -> bool:
    return (
        event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == activity_type
    )


async def history_size(handle: WorkflowHandle) -> dict[str, Any]:
    """Events and bytes of a workflow's history as the server counts them (its limits use
    these), and the count and serialized bytes of each event type."""
    info = (await handle.describe()).raw_description.workflow_execution_info
    history = await handle.fetch_history()
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for event in history.events:
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        counts[name] += 1
        sizes[name] += event.ByteSize()
    return {
        "events": info.history_length,
        "bytes": info.history_size_bytes,
        "event_types": dict(counts.most_common()),
        "bytes_by_event_type": dict(sizes.most_common()),
    }
