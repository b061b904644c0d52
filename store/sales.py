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

from sqlalchemy import Engine, func, select

from integrations.settings import Settings
from integrations.shop import ShopPlatform
from store.db import make_engine, write_transaction
from store.schema import units_sold


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
    """The store's `units_sold` table (one row per day, SKU and currency)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def units_sold(self, start: datetime, end: datetime, currency: str | None = None) -> list[UnitsSold]:
        query = (
            select(
                units_sold.c.sku, func.max(units_sold.c.category), units_sold.c.currency, func.sum(units_sold.c.units)
            )
            .where(units_sold.c.day >= _day(start), units_sold.c.day < _day_after(end))
            .group_by(units_sold.c.sku, units_sold.c.currency)
        )
        if currency:
            query = query.where(units_sold.c.currency == currency)
        with self.engine.connect() as connection:
            return [
                UnitsSold(sku, category, cur, int(units)) for sku, category, cur, units in connection.execute(query)
            ]

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

    def replace_days(self, start: date, end: date, rows: Iterable[Mapping[str, object]]) -> int:
        """The figures of start <= day < end become `rows` (a SKU no longer sold on a day loses its row)."""
        rows = list(rows)
        with write_transaction(self.engine) as connection:
            connection.execute(units_sold.delete().where(units_sold.c.day >= start, units_sold.c.day < end))
            if rows:
                connection.execute(units_sold.insert(), rows)
        return len(rows)


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
