"""Appending events: idempotent, conflicts refused, gaps and late arrivals, concurrency."""

from __future__ import annotations

import multiprocessing
import random
import threading
from datetime import timedelta

import pytest

from store.events import EventType, ReturnEvent, event_id
from store.store import EventConflictError, EventStore
from tests.integration.store.builders import Script, at, line


def script(return_id: str = "R-1") -> Script:
    s = Script(return_id, customer="C1", lines=[line("L1", "S-TEE", "apparel", "size_too_small", 1, 2000)])
    s.step(EventType.requested, "2025-03-01 10:00")
    s.step(EventType.approved, "2025-03-01 10:01", stage="approved")
    s.step(EventType.cancelled, "2025-03-01 11:00", stage="cancelled")
    return s


def test_the_same_event_twice_is_stored_once_and_answers_the_stored_one(store):
    first, *_ = script().events
    appended = store.append(first)
    again = store.append(ReturnEvent.model_validate_json(first.model_dump_json()))
    assert appended.created and not again.created
    assert again.event == first
    assert store.events_of("R-1") == [first]
    assert store.record("R-1")["event_count"] == 1


def test_another_event_under_the_same_id_is_refused_and_changes_nothing(store):
    first, second, _ = script().events
    store.append(first)
    impostor = ReturnEvent.of(EventType.declined, second.data, sequence=1, created_at=first.created_at)
    with pytest.raises(EventConflictError) as refused:
        store.append(impostor)
    assert refused.value.stored == first
    later = first.model_copy(update={"created_at": first.created_at + timedelta(seconds=1)})
    with pytest.raises(EventConflictError):
        store.append(later)
    assert store.events_of("R-1") == [first]
    assert store.status("R-1").stage == "requested"


def test_an_event_id_names_its_return_and_sequence():
    first = script().events[0]
    assert first.id == event_id("R-1", 1) == "evt_R-1_1"
    with pytest.raises(ValueError, match="id must be"):
        ReturnEvent(**{**first.model_dump(), "id": "evt_R-1_2"})


def test_gaps_and_late_events_leave_the_newest_status_and_the_earliest_times(store):
    requested, approved, cancelled = script().events
    store.append(requested)
    store.append(cancelled)  # sequence 2 has not arrived: a gap
    assert store.status("R-1").stage == "cancelled"
    assert [e.sequence for e in store.events_of("R-1")] == [1, 3]
    store.append(approved)  # arrives late: its status is older than the one shown
    record = store.record("R-1")
    assert record["stage"] == "cancelled" and record["last_sequence"] == 3 and record["event_count"] == 3
    assert record["approved_at"] == at("2025-03-01 10:01")
    assert record["closed_at"] == at("2025-03-01 11:00")
    assert [e.sequence for e in store.events_of("R-1")] == [1, 2, 3]


def test_a_return_first_seen_by_a_late_event_still_starts_at_its_request(store):
    requested, approved, _ = script().events
    store.append(approved)
    assert store.record("R-1")["requested_at"] == approved.created_at
    store.append(requested)
    assert store.record("R-1")["requested_at"] == at("2025-03-01 10:00")
    assert store.status("R-1").stage == "approved"


def _many_returns(count: int) -> list[ReturnEvent]:
    return [event for n in range(count) for event in script(f"R-{n}").events]


def _check_stored_once(store: EventStore, events: list[ReturnEvent], returns: int) -> None:
    for n in range(returns):
        stored = store.events_of(f"R-{n}")
        assert [e.sequence for e in stored] == [1, 2, 3]
        record = store.record(f"R-{n}")
        assert record["event_count"] == 3 and record["last_sequence"] == 3 and record["stage"] == "cancelled"
        assert len(record["lines"]) == 1


def test_threads_appending_the_same_events_in_any_order_store_each_once(store):
    events = _many_returns(6)
    created = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def appender(seed: int) -> None:
        shuffled = events[:]
        random.Random(seed).shuffle(shuffled)
        try:
            for event in shuffled:
                result = store.append(event)
                with lock:
                    created.append(result.created)
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=appender, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert created.count(True) == len(events)  # each event created exactly once
    _check_stored_once(store, events, 6)


def _append_in_process(url: str, seed: int) -> None:
    store = EventStore.open(url)
    events = _many_returns(5)
    random.Random(seed).shuffle(events)
    for event in events:
        store.append(event)
    store.close()


def test_processes_appending_the_same_events_store_each_once(store, store_url):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_in_process, args=(store_url, seed)) for seed in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    _check_stored_once(store, _many_returns(5), 5)


def test_events_between_pages_through_a_time_range_in_order(store):
    for event in _many_returns(3):
        store.append(event)
    start, end = at("2025-03-01 10:00"), at("2025-03-01 11:00")  # the cancellations at 11:00 are outside
    first = store.events_between(start, end, limit=4)
    assert len(first.events) == 4 and first.next_cursor
    rest = store.events_between(start, end, limit=4, after=first.next_cursor)
    assert rest.next_cursor is None
    seen = first.events + rest.events
    assert [(e.created_at, e.return_id) for e in seen] == sorted((e.created_at, e.return_id) for e in seen)
    assert {e.type for e in seen} == {EventType.requested, EventType.approved} and len(seen) == 6
    only = store.events_between(start, at("2025-03-02 00:00"), types=["cancelled"])
    assert [e.return_id for e in only.events] == ["R-0", "R-1", "R-2"]


def test_append_many_is_one_transaction(store):
    events = script().events
    results = store.append_many(events + events[:1])
    assert [r.created for r in results] == [True, True, True, False]
    assert store.status("R-1").stage == "cancelled"
