"""The rollups always equal the sums of the detail rows: after appends in any order (late
events, retries), after a bulk load, and after the migration that fills them; over periods
of days, of whole months, and of both (the monthly rollups and the daily ones together)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import delete, distinct, func, select

from store import reports
from store.bulk import bulk_load
from store.generate import Synthetic
from store.migrate import alembic_config, migrate
from store.rollups import DURATION_ACCURACY, ROLLUPS
from store.sales import FixedUnitsSold
from store.schema import returns
from store.store import EventStore

END = datetime(2025, 7, 10, tzinfo=UTC)
SYNTHETIC = Synthetic(150, end=END, days=70, seed=21)
PERIODS = [
    reports.Period(SYNTHETIC.start(), END),  # days of May, June whole, days of July
    reports.Period.days("2025-06-01", "2025-06-10"),  # days only
    reports.Period.days("2025-05-01", "2025-06-30"),  # whole months only
]
REPORTS = (reports.by_reason, reports.by_sku, reports.by_category, reports.money, reports.dispositions)


def assert_rollups_match_detail(store: EventStore) -> None:
    sold = FixedUnitsSold({})
    for period in PERIODS:
        for report in REPORTS:
            detail = report(store, period, detail=True).rows
            assert report(store, period).rows == detail, report.__name__
            assert detail or report is reports.dispositions
        assert (
            reports.return_rates(store, period, sold, detail=True).rows
            == reports.return_rates(store, period, sold).rows
        )
        for limit in (1, 2, 5, 20):
            every_customer = reports.top_repeat_returners(store, period, limit=limit, detail=True).rows
            assert reports.top_repeat_returners(store, period, limit=limit).rows == every_customer, (period, limit)
        exact, histogram = reports.durations(store, period, detail=True), reports.durations(store, period)
        assert [row["returns"] for row in histogram.rows] == [row["returns"] for row in exact.rows]
        assert exact.rows
        for approximate, row in zip(histogram.rows, exact.rows, strict=True):
            for name in ("p50_seconds", "p90_seconds"):
                assert approximate[name] == pytest.approx(row[name], rel=DURATION_ACCURACY), (row, name)


def rollup_rows(store: EventStore) -> dict[str, list]:
    with store.reading() as reader:
        return {
            name: sorted(tuple(row) for row in reader.execute(select(table)) if any(row[len(keys) + 1 :]))
            for name, (table, keys, _figures) in ROLLUPS.items()
        }


def test_appends_in_any_order_with_retries_keep_the_rollups_exact(store):
    events = [event for batch in SYNTHETIC.stream() for event in batch]
    random.Random(8).shuffle(events)
    for event in events + events[:40]:  # the tail: retried appends, no-ops
        store.append(event)
    assert_rollups_match_detail(store)


def test_a_bulk_load_gives_the_rollups_appends_give(store, store_url):
    bulk_load(store, SYNTHETIC.stream(), batch_returns=40)  # several batches share days
    assert_rollups_match_detail(store)
    bulk = rollup_rows(store)
    assert bulk["rollup_reasons"] and bulk["rollup_money"]
    with store.writing() as connection:
        for table, _keys, _figures in ROLLUPS.values():
            connection.execute(delete(table))
    # the migration that adds the rollups fills them from the detail rows
    command.downgrade(alembic_config(store_url), "0001")
    migrate(store_url)
    assert rollup_rows(store) == bulk


def test_the_top_repeat_returners_are_found_among_a_few_customers(store):
    # a hundredth of the customers make a fifth of the returns (store.generate)
    bulk_load(store, Synthetic(3_000, end=END, days=100, seed=5).stream())
    period = reports.Period.days("2025-04-15", "2025-07-09")
    candidates = reports._could_be_top(store, period, None, limit=5, min_returns=2)
    with store.reading() as reader:
        customers = reader.execute(select(func.count(distinct(returns.c.customer_id)))).scalar_one()
    assert candidates is not None and 5 <= len(candidates) < customers / 20
    top = reports.top_repeat_returners(store, period, limit=5)
    assert top.rows == reports.top_repeat_returners(store, period, limit=5, detail=True).rows
    assert {row["customer_id"] for row in top.rows} <= candidates
