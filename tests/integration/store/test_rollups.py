"""The daily rollups always equal the sums of the detail rows: after appends in any order
(late events, retries), after a bulk load, and after the migration that fills them."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import delete, select

from store import reports
from store.bulk import bulk_load
from store.generate import Synthetic
from store.migrate import alembic_config, migrate
from store.rollups import ROLLUPS
from store.sales import FixedUnitsSold
from store.store import EventStore

END = datetime(2025, 7, 1, tzinfo=UTC)
SYNTHETIC = Synthetic(150, end=END, days=40, seed=21)
PERIODS = [
    reports.Period(SYNTHETIC.start(), END),
    reports.Period.days("2025-06-01", "2025-06-10"),
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
