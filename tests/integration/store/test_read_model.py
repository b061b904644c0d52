"""The read model: what a return looks like in the store after a sequence of events."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from store.generate import Synthetic
from store.projection import project, project_all
from tests.integration.store.builders import at
from tests.integration.store.dataset import march_2025


def test_a_return_reads_back_after_its_events_with_status_timeline_and_figures(store):
    r1 = march_2025()[0]
    for event in r1.events:
        store.append(event)
    status = store.status("R1")
    assert status == r1.events[-1].status()  # what GET /v1/returns/R1 answers once Temporal forgot the run
    assert status.stage == "completed" and status.refund.amount == 5500
    timeline = store.timeline("R1")
    assert [entry.detail for entry in timeline][:3] == ["requested", "approved", "label_issued"]
    assert len(timeline) == len(r1.events)

    record = store.record("R1")
    assert record["is_open"] is False and record["resolution_kind"] == "refund"
    assert (record["refunded"], record["fees"], record["returned_value"]) == (5500, 0, 5500)
    assert (record["units_requested"], record["units_back"]) == (3, 3)
    assert record["first_scan_at"] == at("2025-03-02 10:00")
    assert record["resolved_at"] == at("2025-03-05 16:00")  # the refund, not the completion a minute later
    assert record["closed_at"] == at("2025-03-05 16:01")
    assert record["request_to_first_scan_s"] == 86_400
    assert record["request_to_resolved_s"] == 4 * 86_400 + 6 * 3600
    assert [(line["sku"], line["grade"], line["disposition"], line["units_back"]) for line in record["lines"]] == [
        ("S-TEE", "A", "restock", 2),
        ("S-MUG", "D", "recycle", 1),
    ]
    assert all(line["inspected_at"] == at("2025-03-05 10:00") for line in record["lines"])


def test_the_read_model_follows_each_step(store):
    r2 = march_2025()[1]
    stages = []
    for event in r2.events:
        store.append(event)
        record = store.record("R2")
        stages.append((record["stage"], record["last_event_type"], record["is_open"]))
    assert stages[0] == ("requested", "requested", True)
    assert stages[5] == ("delivered", "received", True)
    assert stages[-2] == ("resolving", "credited", True)
    assert stages[-1] == ("completed", "completed", False)
    record = store.record("R2")
    assert (record["credited"], record["credit_bonus"], record["fees"]) == (1430, 130, 700)


def test_an_unknown_return_reads_as_none(store):
    assert store.status("nope") is None and store.timeline("nope") is None and store.record("nope") is None
    assert store.events_of("nope") == []


def test_bulk_projection_equals_appending_one_event_at_a_time_in_any_order():
    synthetic = Synthetic(60, end=datetime(2025, 7, 1, tzinfo=UTC), days=30, seed=3)
    rng = random.Random(5)
    for events in synthetic.stream():
        shuffled = events[:]
        rng.shuffle(shuffled)
        row = None
        for event in shuffled:
            row, lines = project(event, row)
        bulk_row, bulk_lines = project_all(events)
        assert row == bulk_row
        assert lines == bulk_lines
