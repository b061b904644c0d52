"""Units sold per SKU: the denominator of return rates.

Reports ask a `UnitsSoldSource`. Two come with the store: the `units_sold` table and a fixed
mapping (tests, or figures at hand). The table is filled from the shop platform's sales query
(`GET /v1/sales/daily`) by `python -m store copy-sales` (run it nightly: it copies the last days
again, so late corrections arrive) or by the generator (synthetic figures). Reports never call
the platform: they read the copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, Date, Engine, and_, func, literal, or_, select, union_all

from integrations.settings import Settings
from integrations.shop import ShopPlatform
from store.db import make_engine, write_transaction
from store.rollups import month_of, next_month, whole_months
from store.schema import units_sold, units_sold_monthly


@dataclass(frozen=True)
class UnitsSold:
    sku: str
    category: str | None
    currency: str
    units: int


class UnitsSoldSource(Protocol):
    def units_sold(self, start: datetime, end: datetime, currency: str | None = None) -> Iterable[UnitsSold]:
        """Units sold per SKU and currency with start <= sale date < end (dates in UTC)."""
        ...


class StoredUnitsSold:
    """The store's `units_sold` table (one row per day, SKU and currency), and its monthly sums
    (`units_sold_monthly`), kept together by every write here: a period's whole months are read
    from the sums, the days around them from the daily rows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def units_sold(self, start: datetime, end: datetime, currency: str | None = None) -> list[UnitsSold]:
        first, end_day = _day(start), _day_after(end)
        months_from, months_to = whole_months(first, end_day)
        daily, monthly = units_sold.c, units_sold_monthly.c
        parts = [
            select(daily.sku, daily.category, daily.currency, daily.units).where(
                or_(
                    and_(daily.day >= first, daily.day < min(months_from, end_day)),
                    and_(daily.day >= max(months_to, first), daily.day < end_day),
                )
            ),
            select(monthly.sku, monthly.category, monthly.currency, monthly.units).where(
                monthly.day >= months_from, monthly.day < months_to
            ),
        ]
        if currency:
            parts = [part.where(part.selected_columns.currency == currency) for part in parts]
        rows = union_all(*parts).subquery()
        query = select(rows.c.sku, func.max(rows.c.category), rows.c.currency, func.sum(rows.c.units)).group_by(
            rows.c.sku, rows.c.currency
        )
        with self.engine.connect() as connection:
            return [
                UnitsSold(sku, category, cur, int(units)) for sku, category, cur, units in connection.execute(query)
            ]

    def units_sold_by_month(
        self, start: datetime, end: datetime, currency: str | None = None
    ) -> dict[tuple[date, str], int]:
        """Units sold per calendar month (its first day) and currency with start <= sale date < end:
        the whole months from their sums, the days before and after them summed per day."""
        first, end_day = _day(start), _day_after(end)
        months_from, months_to = whole_months(first, end_day)
        daily, monthly = units_sold.c, units_sold_monthly.c
        parts = [
            select(daily.day, daily.currency, func.sum(daily.units)).where(daily.day >= since, daily.day < until)
            for since, until in ((first, min(months_from, end_day)), (max(months_to, first), end_day))
            if since < until
        ]
        if months_from < months_to:
            parts.append(
                select(monthly.day, monthly.currency, func.sum(monthly.units)).where(
                    monthly.day >= months_from, monthly.day < months_to
                )
            )
        if currency:
            parts = [part.where(part.selected_columns.currency == currency) for part in parts]
        parts = [part.group_by(part.selected_columns.day, part.selected_columns.currency) for part in parts]
        sold: dict[tuple[date, str], int] = {}
        with self.engine.connect() as connection:
            for part in parts:
                for day, cur, units in connection.execute(part):
                    key = (month_of(day), cur)
                    sold[key] = sold.get(key, 0) + int(units)
        return sold

    def record(self, rows: Iterable[Mapping[str, object]]) -> None:
        """Adds or replaces daily figures: {day, sku, currency, category, units}."""
        rows = list(rows)
        if not rows:
            return
        with write_transaction(self.engine) as connection:
            for row in rows:
                connection.execute(
                    units_sold.delete().where(
                        units_sold.c.day == row["day"],
                        units_sold.c.sku == row["sku"],
                        units_sold.c.currency == row["currency"],
                    )
                )
            connection.execute(units_sold.insert(), rows)
            _sum_months(connection, {month_of(row["day"]) for row in rows})

    def replace_days(self, start: date, end: date, rows: Iterable[Mapping[str, object]]) -> int:
        """The figures of start <= day < end become `rows` (a SKU no longer sold on a day loses its row)."""
        rows = list(rows)
        with write_transaction(self.engine) as connection:
            connection.execute(units_sold.delete().where(units_sold.c.day >= start, units_sold.c.day < end))
            if rows:
                connection.execute(units_sold.insert(), rows)
            _sum_months(connection, _months(start, end))
        return len(rows)

    def sum_months(self) -> None:
        """Sums every month the daily rows hold again: after rows were written around this class
        (a bulk load's COPY)."""
        with write_transaction(self.engine) as connection:
            first, last = connection.execute(select(func.min(units_sold.c.day), func.max(units_sold.c.day))).one()
            if first is not None:
                _sum_months(connection, _months(first, last + timedelta(days=1)))


def _months(start: date, end: date) -> set[date]:
    """The months start <= day < end touches."""
    months, month = set(), month_of(start)
    while month < end:
        months.add(month)
        month = next_month(month)
    return months


def _sum_months(connection: Connection, months: Iterable[date]) -> None:
    """Makes these months' rows of units_sold_monthly the sums of their daily rows."""
    daily = units_sold.c
    for month in sorted(months):
        connection.execute(units_sold_monthly.delete().where(units_sold_monthly.c.day == month))
        sums = (
            select(daily.sku, daily.currency, literal(month, Date), func.max(daily.category), func.sum(daily.units))
            .where(daily.day >= month, daily.day < next_month(month))
            .group_by(daily.sku, daily.currency)
        )
        connection.execute(
            units_sold_monthly.insert().from_select(["sku", "currency", "day", "category", "units"], sums)
        )


async def copy_sales(shop: ShopPlatform, stored: StoredUnitsSold, start: date, end: date) -> int:
    """Copies the platform's units sold per day and SKU, start <= day < end, into the store."""
    sales = await shop.daily_sales(start, end)
    rows = [
        {"day": sold.day, "sku": sold.sku, "category": sold.category, "currency": sold.currency, "units": sold.units}
        for sold in sales
    ]
    return await asyncio.to_thread(stored.replace_days, start, end, rows)


async def copy_recent_sales(settings: Settings, days: int, url: str | None = None) -> int:
    """The last `days` days' units sold (today included) from the platform SHOP_API_BASE names into
    the store at `url` (default EVENT_STORE_URL): what `python -m store copy-sales` runs nightly."""
    end = datetime.now(UTC).date() + timedelta(days=1)
    shop, engine = ShopPlatform(settings), make_engine(url or settings.event_store_url.get_secret_value())
    try:
        return await copy_sales(shop, StoredUnitsSold(engine), end - timedelta(days=days), end)
    finally:
        await shop.aclose()
        engine.dispose()


class FixedUnitsSold:
    """Figures given up front, whatever the period: {(sku, currency): (category, units)}."""

    def __init__(self, figures: Mapping[tuple[str, str], tuple[str | None, int]]) -> None:
        self.figures = dict(figures)

    def units_sold(self, start: datetime, end: datetime, currency: str | None = None) -> list[UnitsSold]:
        return [
            UnitsSold(sku, category, cur, units)
            for (sku, cur), (category, units) in self.figures.items()
            if currency is None or cur == currency
        ]


def _day(at: datetime) -> date:
    return at.date()


def _day_after(at: datetime) -> date:
    """The first day not in a period ending at `at` (exclusive): a period ending at midnight
    ends the day before; one ending mid-day includes that day."""
    return at.date() if at.time() == datetime.min.time() else date.fromordinal(at.date().toordinal() + 1)
