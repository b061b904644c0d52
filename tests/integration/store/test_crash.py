"""A process SIGKILLed in the middle of its appends loses nothing and duplicates nothing once
the appends are retried (what a Temporal activity does after its worker dies)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from store.generate import Synthetic
from store.schema import events
from tests.integration.store.test_rollups import assert_rollups_match_detail

SYNTHETIC = Synthetic(120, end=datetime(2025, 7, 1, tzinfo=UTC), days=40, seed=21)
APPENDER = """
import sys
from datetime import UTC, datetime
from store.generate import Synthetic
from store.store import EventStore
store = EventStore.open(sys.argv[1])
for batch in Synthetic(120, end=datetime(2025, 7, 1, tzinfo=UTC), days=40, seed=21).stream():
    for event in batch:
        store.append(event)
"""


def stored(store) -> int:
    with store.reading() as reader:
        return reader.execute(select(func.count()).select_from(events)).scalar()


def test_appends_killed_midway_then_retried_store_every_event_once(store, store_url):
    all_events = [event for batch in SYNTHETIC.stream() for event in batch]
    appender = subprocess.Popen([sys.executable, "-c", APPENDER, store_url], cwd=os.getcwd())
    deadline = time.monotonic() + 60
    while stored(store) < len(all_events) // 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    appender.send_signal(signal.SIGKILL)
    appender.wait(timeout=30)
    killed_at = stored(store)
    assert 0 < killed_at < len(all_events), "the appender was to die mid-way"

    created = [store.append(event).created for event in all_events]  # the retries
    assert created.count(False) == killed_at and created.count(True) == len(all_events) - killed_at
    assert stored(store) == len(all_events)
    for batch in SYNTHETIC.stream():
        return_id = batch[0].return_id
        assert [event.sequence for event in store.events_of(return_id)] == list(range(1, len(batch) + 1))
        assert store.status(return_id) == batch[-1].status()
    assert_rollups_match_detail(store)
