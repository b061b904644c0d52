"""Units sold, the return rates' denominator: the monthly sums StoredUnitsSold keeps beside the
daily rows answer every period exactly as the daily rows alone would, through every way the
daily rows are written (a day's figure recorded again, whole days replaced by the nightly copy,
a bulk load), and migration 0006 fills them from what a store already holds."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, insert, select

from store.db import make_engine, write_transaction
from store.migrate import migrate
from store.sales import StoredUnitsSold
from store.schema import units_sold, units_sold_monthly

SKUS = (("S-TEE", "apparel"), ("S-MUG", "home"), ("S-CAP", None))
FIRST_DAY = date(2024, 11, 20)


def _days(count: int) -> list[date]:
    return [FIRST_DAY + timedelta(days=n) for n in range(count)]


def _sales(days: list[date], seed: int) -> list[dict]:
    chance = random.Random(seed)
    return [
        {"day": day, "sku": sku, "category": category, "currency": currency, "units": chance.randint(0, 9)}
        for day in days
        for sku, category in SKUS
        for currency in ("USD", "EUR")
        if chance.random() < 0.8
    ]


def _by_hand(rows: list[dict], start: datetime, end: datetime, currency: str | None) -> dict[tuple, int]:
    """The figures a period should answer, summed from the daily rows in Python."""
    last = end.date() if end.time() != time() else end.date() - timedelta(days=1)
    sums: dict[tuple, int] = {}
    for row in rows:
        if start.date() <= row["day"] <= last and currency in (None, row["currency"]):
            key = (row["sku"], row["category"], row["currency"])
            sums[key] = sums.get(key, 0) + row["units"]
    return sums


def _answered(sold: StoredUnitsSold, start: datetime, end: datetime, currency: str | None) -> dict[tuple, int]:
    return {(s.sku, s.category, s.currency): s.units for s in sold.units_sold(start, end, currency)}


def _at(day: date, hour: int = 0) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


# Periods of days inside one month, across a month's edge, of whole months, and whole months with
# days on both sides, some ending mid-day (that day counts).
PERIODS = [
    (_at(date(2024, 11, 22)), _at(date(2024, 11, 29))),
    (_at(date(2024, 11, 25)), _at(date(2024, 12, 5), 13)),
    (_at(date(2024, 12, 1)), _at(date(2025, 2, 1))),
    (_at(date(2024, 11, 21)), _at(date(2025, 3, 3))),
    (_at(date(2024, 12, 1)), _at(date(2025, 1, 15), 8)),
    (_at(date(2024, 1, 1)), _at(date(2026, 1, 1))),
]


def test_every_period_answers_what_its_days_sum_to_through_records_and_replaced_days(store):
    sold = StoredUnitsSold(store.engine)
    days = _days(120)
    rows = _sales(days, seed=1)
    sold.record(rows)
    # late corrections: some days recorded again, then a nightly copy replacing a month's edge
    corrected = [{**row, "units": row["units"] + 5} for row in rows[::7]]
    sold.record(corrected)
    rows = [row for row in rows if row not in rows[::7]] + corrected
    copied_days = [day for day in days if date(2024, 12, 28) <= day < date(2025, 1, 3)]
    copied = _sales(copied_days, seed=2)
    sold.replace_days(date(2024, 12, 28), date(2025, 1, 3), copied)
    rows = [row for row in rows if row["day"] not in copied_days] + copied
    for start, end in PERIODS:
        for currency in (None, "EUR"):
            assert _answered(sold, start, end, currency) == _by_hand(rows, start, end, currency), (start, end)
    with store.engine.connect() as connection:
        months = connection.execute(select(func.count(func.distinct(units_sold_monthly.c.day)))).scalar_one()
    assert months == 5  # November to March: the sums exist, so whole months are read from them


def test_a_bulk_load_s_days_are_summed_into_months(store):
    rows = _sales(_days(75), seed=3)
    with write_transaction(store.engine) as connection:  # written around StoredUnitsSold, as a COPY is
        connection.execute(insert(units_sold), rows)
    sold = StoredUnitsSold(store.engine)
    year = (_at(date(2024, 1, 1)), _at(date(2026, 1, 1)))
    assert _answered(sold, *year, None) != _by_hand(rows, *year, None)  # the months not summed yet
    sold.sum_months()
    assert _answered(sold, *year, None) == _by_hand(rows, *year, None)


def test_migration_0006_sums_the_days_a_store_already_holds(store_url):
    migrate(store_url, "0005")
    rows = _sales(_days(60), seed=4)
    engine = make_engine(store_url)
    try:
        with write_transaction(engine) as connection:
            connection.execute(insert(units_sold), rows)
        migrate(store_url)
        sold = StoredUnitsSold(engine)
        for start, end in PERIODS:
            assert _answered(sold, start, end, None) == _by_hand(rows, start, end, None), (start, end)
    finally:
        engine.dispose()
