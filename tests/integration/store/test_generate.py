"""The synthetic generator: events the workflow could have appended, in realistic mixes."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func, select

from store.events import EventType, ReturnEvent, event_id
from store.generate import Synthetic
from store.schema import events, returns, units_sold
from store.store import EventStore


def test_each_return_is_a_valid_contiguous_sequence_of_events():
    synthetic = Synthetic(400, end=datetime(2025, 7, 1, tzinfo=UTC), days=60, seed=11)
    batches = list(synthetic.stream())
    assert len(batches) == 400
    types, currencies, methods, stages, grades, reasons = (
        Counter(),
        Counter(),
        Counter(),
        Counter(),
        Counter(),
        Counter(),
    )
    for batch in batches:
        return_id = batch[0].return_id
        assert [event.sequence for event in batch] == list(range(1, len(batch) + 1))
        assert batch[0].type is EventType.requested
        assert [event.created_at for event in batch] == sorted(event.created_at for event in batch)
        for event in batch:
            checked = ReturnEvent.model_validate(event.model_dump())  # the envelope's own checks
            assert checked.id == event_id(return_id, event.sequence)
            event.status()  # data is a valid ReturnStatus
            types[event.type] += 1
        last = batch[-1].status()
        currencies[last.currency] += 1
        methods[last.method] += 1
        stages[last.stage] += 1
        grades.update(line.grade for line in last.lines if line.grade)
        reasons.update(line.reason for line in last.lines)
        assert batch[-1].created_at <= synthetic.end
    # Not synthesized: the run's end (`closed`: a status snapshot, weeks after completion, that no
    # report reads), an operator closing a return unresolved, and carrier pickups (no report counts them).
    unsynthesized = {EventType.closed, EventType.closed_unresolved, EventType.pickup_booked, EventType.pickup_released}
    synthesized = set(EventType) - unsynthesized
    assert set(types) == synthesized - {EventType.needs_review} or set(types) == synthesized
    assert len(currencies) >= 4 and len(methods) == 4 and len(reasons) >= 8 and len(grades) >= 5
    assert stages["completed"] > 300 and {"declined", "expired", "cancelled"} <= set(stages)
    assert any(stage not in ("completed", "declined", "expired", "cancelled") for stage in stages)  # in flight


def test_the_same_seed_gives_the_same_events():
    end = datetime(2025, 7, 1, tzinfo=UTC)
    first = [e.model_dump() for batch in Synthetic(30, end=end, seed=4).stream() for e in batch]
    again = [e.model_dump() for batch in Synthetic(30, end=end, seed=4).stream() for e in batch]
    assert first == again


def test_the_command_fills_a_store_through_either_path(tmp_path):
    for via in ("bulk", "append"):
        url = f"sqlite:///{tmp_path / via}.db"
        command = [sys.executable, "-m", "store.generate", "--returns", "25", "--url", url, "--via", via]
        result = subprocess.run([*command, "--end", "2025-07-01", "--days", "20"], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        store = EventStore.open(url)
        with store.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(returns)).scalar() == 25
            assert connection.execute(select(func.count()).select_from(events)).scalar() > 25 * 3
            assert connection.execute(select(func.count()).select_from(units_sold)).scalar() > 0
        assert store.status("SYN-00000000").return_id == "SYN-00000000"
        store.close()
