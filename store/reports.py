"""Reports on returns, from the store's read model.

Each report takes a period (start inclusive, end exclusive, in UTC) judged by **event dates**,
never order dates, and an optional currency; money is always grouped by currency, never
summed across currencies. Each answers a `Report` whose rows serialise to JSON
(`report.to_json()`) and CSV (`write_csv(report, file)` / `report.to_csv()`).

Which event dates a report's period selects:

| report | a return (or line) counts when |
|---|---|
| reasons, SKUs, categories, return rates, customers | it was requested in the period |
| money | it was first resolved (refunded, credited, exchanged, or completed with nothing owed) in the period |
| durations | the measured step ended in the period (first scan, inspection, resolution) |
| dispositions | it was inspected in the period |
| expired labels | it expired in the period |
| open returns, needs attention | a snapshot now; a period narrows it to returns requested in it |

Reports of counts and money over whole UTC days read the rollups (`store.rollups`: whole
months from the monthly ones where they exist, the other days from the daily ones); other
periods, or `detail=True`, read the detail rows. Both answer the same figures.

Percentiles interpolate linearly between the closest ranks (PostgreSQL's `percentile_cont`).
Over whole days they are read from the durations' histogram rollup, within 1% of the exact
value (`store.rollups.DURATION_ACCURACY`); otherwise, or with `detail=True`, they are exact:
PostgreSQL's `percentile_cont`, and on SQLite, which has no percentile aggregate, the two values
around each rank answered by walking an index in duration order (`ORDER BY duration LIMIT 2
OFFSET rank`).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, TextIO

from sqlalchemy import Select, Subquery, Table, and_, case, func, literal_column, or_, select, text, union_all

from store.db import is_sqlite
from store.events import EventType
from store.projection import DURATIONS
from store.rollups import (
    ALL_CURRENCIES,
    DISPOSITION_FIGURES,
    DURATION_METRICS,
    MONEY_FIGURES,
    MONTHLY,
    NO_CATEGORY,
    ROLLUPS,
    bucket_value,
    next_month,
    whole_months,
)
from store.sales import StoredUnitsSold, UnitsSoldSource
from store.schema import (
    events,
    return_lines,
    returns,
    rollup_categories,
    rollup_customers_monthly,
    rollup_dispositions,
    rollup_durations,
    rollup_money,
    rollup_reasons,
    rollup_skus,
)
from store.store import EventStore
from workflows.vocabulary import Disposition

# What a disposition recovers of an item's value, in basis points: an example until the
# policy carries the shop's own figures (`recovery_bp=` overrides it).
DEFAULT_RECOVERY_BP: dict[str, int] = {
    Disposition.restock: 9_000,
    Disposition.refurbish: 6_000,
    Disposition.return_to_vendor: 8_000,
    Disposition.liquidate: 2_500,
    Disposition.recycle: 300,
    Disposition.donate: 0,
    Disposition.destroy: 0,
}
AGE_BUCKETS_DAYS = (2, 7, 14, 30)  # open returns: 0-2d, 2-7d, 7-14d, 14-30d, 30d+


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime  # exclusive

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a period needs aware datetimes")
        if self.end <= self.start:
            raise ValueError("a period must end after it starts")

    def whole_days(self) -> bool:
        """Starts and ends at midnight UTC: the daily rollups answer it exactly."""
        return all(moment.astimezone(UTC).time() == time(0) for moment in (self.start, self.end))

    def first_day(self) -> date:
        return self.start.astimezone(UTC).date()

    def end_day(self) -> date:
        return self.end.astimezone(UTC).date()

    @classmethod
    def days(cls, start: str, end: str) -> Period:
        """From ISO dates, both included: Period.days("2025-01-01", "2025-01-31")."""
        first = datetime.fromisoformat(start).replace(tzinfo=UTC)
        last = datetime.fromisoformat(end).replace(tzinfo=UTC)
        return cls(first, last + timedelta(days=1))


@dataclass(frozen=True)
class Report:
    name: str
    columns: list[str]
    rows: list[dict[str, Any]]
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "report": self.name,
            "parameters": {key: _jsonable(value) for key, value in self.parameters.items()},
            "columns": self.columns,
            "rows": [{key: _jsonable(row[key]) for key in self.columns} for row in self.rows],
        }

    def to_csv(self) -> str:
        buffer = io.StringIO()
        write_csv(self, buffer)
        return buffer.getvalue()


def write_csv(report: Report, stream: TextIO) -> None:
    """One header line with the columns, one line per row; empty cells for missing values."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(report.columns)
    for row in report.rows:
        writer.writerow(["" if row[column] is None else _jsonable(row[column]) for column in report.columns])


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _parameters(period: Period | None, currency: str | None, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"currency": currency}
    if period is not None:
        base |= {"start": period.start, "end": period.end}
    return base | extra


def _run(store: EventStore, query: Select[Any], *, groups_in_index_order: bool = False) -> list[dict[str, Any]]:
    """The query's rows. `groups_in_index_order`: on PostgreSQL, groups are counted as an index
    hands them over in order (streaming), never in a hash table (for this transaction only)."""
    with store.reading() as reader:
        if groups_in_index_order and not is_sqlite(store.engine):
            reader.execute(text("SET LOCAL enable_hashagg = off"))
        return [{key: _number(value) for key, value in row.items()} for row in reader.execute(query).mappings()]


def _number(value: Any) -> Any:
    """PostgreSQL sums bigints as numeric: money and counts stay integers here."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _in(column: Any, period: Period) -> Any:
    return and_(column >= period.start, column < period.end)


def _unindexed(store: EventStore, column: Any) -> Any:
    """On SQLite, `+column`: the planner then leaves that column's index alone and reads the
    covering index the query was written for. Its range estimates (no stat4) would otherwise
    pick the date index for a year and look up every row in the table."""
    if not is_sqlite(store.engine):
        return column
    return literal_column(f"+{column.table.name}.{column.name}", type_=column.type)


# --- What comes back, and why -------------------------------------------------------------


def _lines_requested(period: Period, currency: str | None) -> list[Any]:
    conditions = [_in(return_lines.c.requested_at, period), return_lines.c.declined.is_(None)]
    if currency:
        conditions.append(return_lines.c.currency == currency)
    return conditions


def _by_line_attribute(
    store: EventStore,
    name: str,
    keys: list[Any],
    counts: Any,
    period: Period,
    currency: str | None,
    rollup: Table,
    detail: bool,
) -> Report:
    columns = ["currency", *(key.name for key in keys), "returns", "lines", "units", "units_back", "value"]
    if period.whole_days() and not detail:
        table = _rollup_rows(rollup, period, currency).c
        grouped = [table[key.name] for key in keys]
        query = (
            select(
                table.currency,
                *grouped,
                *(
                    func.sum(table[figure]).label(figure)
                    for figure in ("returns", "lines", "units", "units_back", "value")
                ),
            )
            .group_by(table.currency, *grouped)
            .having(func.sum(table.lines) > 0)
            .order_by(table.currency, func.sum(table.units).desc(), *grouped)
        )
        rows = [_category_back(row) for row in _run(store, query)]
        return Report(name, columns, rows, _parameters(period, currency))
    lines = return_lines.c
    query = (
        select(
            lines.currency,
            *keys,
            func.sum(counts).label("returns"),
            func.count().label("lines"),
            func.sum(lines.quantity).label("units"),
            func.sum(lines.units_back).label("units_back"),
            func.sum(lines.quantity * lines.unit_price).label("value"),
        )
        .where(*_lines_requested(period, currency))
        .group_by(lines.currency, *keys)
        .order_by(lines.currency, func.sum(lines.quantity).desc(), *keys)
    )
    return Report(name, columns, _run(store, query), _parameters(period, currency))


def _on_days(table: Any, period: Period, currency: str | None) -> list[Any]:
    conditions = [table.day >= period.first_day(), table.day < period.end_day()]
    if currency:
        conditions.append(table.currency == currency)
    return conditions


def _rollup_rows(daily: Table, period: Period, currency: str | None) -> Subquery:
    """The rollup rows that sum to a period of whole days: its whole months from the monthly
    twin, if the rollup has one, and the days before and after them from the daily rows."""
    first, end = period.first_day(), period.end_day()
    months_from, months_to = whole_months(first, end)
    monthly = MONTHLY.get(daily.name)
    if monthly is None or months_from >= months_to:
        return select(daily).where(*_on_days(daily.c, period, currency)).subquery()
    months = ROLLUPS[monthly][0]
    edges = [and_(daily.c.day >= first, daily.c.day < months_from), and_(daily.c.day >= months_to, daily.c.day < end)]
    edge_days = select(daily).where(or_(*edges))
    in_months = select(months).where(months.c.day >= months_from, months.c.day < months_to)
    if currency:
        edge_days = edge_days.where(daily.c.currency == currency)
        in_months = in_months.where(months.c.currency == currency)
    return union_all(edge_days, in_months).subquery()


def _category_back(row: dict[str, Any]) -> dict[str, Any]:
    if row.get("category") == NO_CATEGORY:
        return {**row, "category": None}
    return row


def by_reason(store: EventStore, period: Period, currency: str | None = None, *, detail: bool = False) -> Report:
    """Returns, lines, units (claimed and back) and value per reason code. `detail=True` reads
    the detail rows even when the daily rollups could answer (they answer the same)."""
    lines = return_lines.c
    return _by_line_attribute(
        store, "returns_by_reason", [lines.reason], lines.counts_reason, period, currency, rollup_reasons, detail
    )


def by_sku(store: EventStore, period: Period, currency: str | None = None, *, detail: bool = False) -> Report:
    lines = return_lines.c
    keys = [lines.sku, lines.category]
    return _by_line_attribute(store, "returns_by_sku", keys, lines.counts_sku, period, currency, rollup_skus, detail)


def by_category(store: EventStore, period: Period, currency: str | None = None, *, detail: bool = False) -> Report:
    lines = return_lines.c
    return _by_line_attribute(
        store,
        "returns_by_category",
        [lines.category],
        lines.counts_category,
        period,
        currency,
        rollup_categories,
        detail,
    )


def return_rates(
    store: EventStore,
    period: Period,
    sales: UnitsSoldSource,
    currency: str | None = None,
    *,
    by: str = "sku",
    detail: bool = False,
) -> Report:
    """Units returned / units sold in the period, per SKU (`by="sku"`) or per category.

    A SKU sold but never returned has rate 0; one returned but not sold in the period has
    no rate (units_sold 0, return_rate None).
    """
    if by not in ("sku", "category"):
        raise ValueError("by is 'sku' or 'category'")
    if period.whole_days() and not detail:
        skus = _rollup_rows(rollup_skus, period, currency).c
        query = (
            select(skus.currency, skus.sku, skus.category, func.sum(skus.units).label("units"))
            .group_by(skus.currency, skus.sku, skus.category)
            .having(func.sum(skus.lines) > 0)
        )
    else:
        lines = return_lines.c
        query = (
            select(lines.currency, lines.sku, lines.category, func.sum(lines.quantity).label("units"))
            .where(*_lines_requested(period, currency))
            .group_by(lines.currency, lines.sku, lines.category)
        )
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    categories: dict[str, str | None] = {}

    def key(sku: str, category: str | None, cur: str) -> tuple[str, str]:
        return (cur, sku if by == "sku" else (category or ""))

    for row in map(_category_back, _run(store, query)):
        categories[row["sku"]] = row["category"]
        entry = totals.setdefault(key(row["sku"], row["category"], row["currency"]), {"returned": 0, "sold": 0})
        entry["returned"] += int(row["units"])
        entry.setdefault("category", row["category"])
    for sold in sales.units_sold(period.start, period.end, currency):
        category = sold.category if sold.category is not None else categories.get(sold.sku)
        entry = totals.setdefault(key(sold.sku, category, sold.currency), {"returned": 0, "sold": 0})
        entry["sold"] += sold.units
        entry.setdefault("category", category)
    rows = []
    for (cur, name), entry in sorted(totals.items()):
        rate = round(entry["returned"] / entry["sold"], 6) if entry["sold"] else None
        row = {"currency": cur, "units_returned": entry["returned"], "units_sold": entry["sold"], "return_rate": rate}
        row |= {"sku": name, "category": entry.get("category")} if by == "sku" else {"category": name or None}
        rows.append(row)
    keys = ["sku", "category"] if by == "sku" else ["category"]
    columns = ["currency", *keys, "units_returned", "units_sold", "return_rate"]
    return Report(f"return_rate_by_{by}", columns, rows, _parameters(period, currency))


def return_rate_by_month(
    store: EventStore, period: Period, sales: StoredUnitsSold, currency: str | None = None
) -> Report:
    """Units returned / units sold in each calendar month of the period (its first and last months
    cut to the period), per currency: how the return rate moves. Whole days read the rollups
    (whole months their monthly sums), summed per day or month and folded into months here."""
    if period.whole_days():
        rolled = _rollup_rows(rollup_skus, period, currency).c
        query = select(rolled.day, rolled.currency, func.sum(rolled.units).label("units"))
        query = query.group_by(rolled.day, rolled.currency)
    else:
        lines = return_lines.c
        day = _utc_day(store, lines.requested_at)
        query = (
            select(day.label("day"), lines.currency, func.sum(lines.quantity).label("units"))
            .where(*_lines_requested(period, currency))
            .group_by(day, lines.currency)
        )
    returned: dict[tuple[date, str], int] = {}
    for row in _run(store, query):
        day = row["day"] if isinstance(row["day"], date) else date.fromisoformat(row["day"])
        key = (day.replace(day=1), row["currency"])
        returned[key] = returned.get(key, 0) + int(row["units"] or 0)
    sold = sales.units_sold_by_month(period.start, period.end, currency)
    currencies = sorted({cur for _, cur in returned} | {cur for _, cur in sold})
    rows = []
    for month in (part.first_day().replace(day=1) for part in _calendar_months(period)):
        for cur in currencies:
            if (month, cur) not in returned and (month, cur) not in sold:
                continue
            units_returned, units_sold = returned.get((month, cur), 0), sold.get((month, cur), 0)
            rate = round(units_returned / units_sold, 6) if units_sold else None
            row = {"month": f"{month:%Y-%m}", "currency": cur, "units_returned": units_returned}
            rows.append(row | {"units_sold": units_sold, "return_rate": rate})
    columns = ["month", "currency", "units_returned", "units_sold", "return_rate"]
    return Report("return_rate_by_month", columns, rows, _parameters(period, currency))


def _calendar_months(period: Period) -> list[Period]:
    months, start = [], period.start
    while start < period.end:
        end = min(_midnight(next_month(start.astimezone(UTC).date())), period.end)
        months.append(Period(start, end))
        start = end
    return months


# --- Money ------------------------------------------------------------------------------------


def money(store: EventStore, period: Period, currency: str | None = None, *, detail: bool = False) -> Report:
    """Per currency, for returns resolved in the period: what was refunded, credited (and the
    bonus it cost), exchanged, kept as fees; the revenue retained (store credit without its
    bonus, plus exchanges) and its share of the returned value; what keep-it returns cost."""
    if period.whole_days() and not detail:
        m = rollup_money.c
        query = (
            select(m.currency, *(func.sum(m[figure]).label(figure) for figure in MONEY_FIGURES))
            .where(*_on_days(m, period, currency))
            .group_by(m.currency)
            .having(func.sum(m.returns_resolved) > 0)
            .order_by(m.currency)
        )
    else:
        r = returns.c
        keep_it = r.method == "keep_it"
        query = (
            select(
                r.currency,
                func.count().label("returns_resolved"),
                func.sum(r.returned_value).label("returned_value"),
                func.sum(r.refunded).label("refunded"),
                func.sum(r.refund_pending).label("refund_pending"),
                func.sum(r.refund_failed).label("refund_failed"),
                func.sum(r.credited).label("credited"),
                func.sum(r.credit_bonus).label("credit_bonus"),
                func.sum(r.exchanged_value).label("exchanged"),
                func.sum(r.fees).label("fees_kept"),
                func.sum(case((keep_it, r.refunded + r.credited + r.refund_pending), else_=0)).label("keep_it_cost"),
            )
            .where(_in(r.resolved_at, period))
            .group_by(r.currency)
            .order_by(r.currency)
        )
        if currency:
            query = query.where(r.currency == currency)
    rows = []
    for row in _run(store, query):
        figures = {name: int(value or 0) if name != "currency" else value for name, value in row.items()}
        retained = figures["credited"] - figures["credit_bonus"] + figures["exchanged"]
        figures["retained_revenue"] = retained
        figures["retained_share"] = (
            round(retained / figures["returned_value"], 6) if figures["returned_value"] else None
        )
        rows.append(figures)
    columns = [
        "currency",
        "returns_resolved",
        "returned_value",
        "refunded",
        "refund_pending",
        "refund_failed",
        "credited",
        "credit_bonus",
        "exchanged",
        "fees_kept",
        "retained_revenue",
        "retained_share",
        "keep_it_cost",
    ]
    return Report("money", columns, rows, _parameters(period, currency))


# --- Time ---------------------------------------------------------------------------------------


def _percentiles_by_index_walk(
    store: EventStore, column: Any, conditions: list[Any], fractions: tuple[float, float]
) -> list[dict[str, Any]]:
    """SQLite has no percentile aggregate. Per method: count the durations, then read the two
    values around each rank with ORDER BY duration LIMIT 2 OFFSET rank, which the index on
    (method, duration, date) answers by walking it in order: no sort, and no row leaves the
    database but those two."""
    r = returns.c
    counted = select(r.method, func.count(column).label("returns")).where(*conditions).group_by(r.method)
    rows = []
    for group in _run(store, counted.order_by(r.method)):
        values = {}
        for name, fraction in zip(("p50_seconds", "p90_seconds"), fractions, strict=True):
            position = fraction * (group["returns"] - 1)
            rank = math.floor(position)
            around = select(column).where(*conditions, r.method == group["method"]).order_by(column)
            with store.reading() as reader:
                pair = reader.execute(around.limit(2).offset(rank)).scalars().all()
            low = pair[0]
            high = pair[1] if len(pair) > 1 else low
            values[name] = float(low + (high - low) * (position - rank))
        rows.append({**group, **values})
    return rows


assert {column for column, _ in DURATION_METRICS.values()} == set(DURATIONS)
PERCENTILES = {"p50_seconds": 0.5, "p90_seconds": 0.9}


def durations(store: EventStore, period: Period, currency: str | None = None, *, detail: bool = False) -> Report:
    """p50 and p90 of each step's duration, in seconds, per return method: linear interpolation
    between the closest ranks (PostgreSQL's percentile_cont); over whole days from the histogram
    rollup (within 1%), otherwise or with `detail=True` exact, from the detail rows."""
    columns = ["metric", "method", "returns", "p50_seconds", "p90_seconds"]
    if period.whole_days() and not detail:
        rows = [_rounded(row) for row in _percentiles_from_histogram(store, period, currency)]
        return Report("durations", columns, rows, _parameters(period, currency))
    r = returns.c
    rows = []
    for metric, (duration, ended) in DURATION_METRICS.items():
        column = r[duration]
        conditions = [_in(_unindexed(store, r[ended]), period), column.is_not(None)]
        if currency:
            conditions.append(r.currency == currency)
        if is_sqlite(store.engine):
            found = _percentiles_by_index_walk(store, column, conditions, (0.5, 0.9))
        else:
            query = (
                select(
                    r.method,
                    func.count(column).label("returns"),
                    func.percentile_cont(0.5).within_group(column.asc()).label("p50_seconds"),
                    func.percentile_cont(0.9).within_group(column.asc()).label("p90_seconds"),
                )
                .where(*conditions)
                .group_by(r.method)
                .order_by(r.method)
            )
            found = _run(store, query)
        rows.extend(_rounded({"metric": metric, **row}) for row in found)
    return Report("durations", columns, rows, _parameters(period, currency))


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    """Interpolation in floating point: round away its last-digit noise."""
    return {**row, **{name: round(row[name], 3) for name in PERCENTILES}}


def _percentiles_from_histogram(store: EventStore, period: Period, currency: str | None) -> list[dict[str, Any]]:
    histogram = _rollup_rows(rollup_durations, period, currency).c
    query = (
        select(histogram.metric, histogram.method, histogram.bucket, func.sum(histogram.returns).label("returns"))
        .group_by(histogram.metric, histogram.method, histogram.bucket)
        .order_by(histogram.metric, histogram.method, histogram.bucket)
    )
    counts: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for row in _run(store, query):
        if row["returns"]:
            counts.setdefault((row["metric"], row["method"]), []).append((row["bucket"], row["returns"]))
    listed = list(DURATION_METRICS)  # the detail rows' order: metric as listed, then method
    rows = []
    for (metric, method), buckets in sorted(counts.items(), key=lambda item: (listed.index(item[0][0]), item[0][1])):
        total = sum(count for _, count in buckets)
        values = {name: _percentile(buckets, fraction * (total - 1)) for name, fraction in PERCENTILES.items()}
        rows.append({"metric": metric, "method": method, "returns": total, **values})
    return rows


def _percentile(buckets: list[tuple[int, int]], position: float) -> float:
    """The value at a fractional rank of the durations a histogram counts (buckets in order)."""
    rank = math.floor(position)

    def value_at(wanted: int) -> float:
        seen = 0
        for bucket, count in buckets:
            seen += count
            if wanted < seen:
                return bucket_value(bucket)
        return bucket_value(buckets[-1][0])

    low, high = value_at(rank), value_at(rank + 1)
    return low + (high - low) * (position - rank)


# --- Dispositions ---------------------------------------------------------------------------------


def dispositions(
    store: EventStore,
    period: Period,
    currency: str | None = None,
    *,
    recovery_bp: Mapping[str, int] | None = None,
    detail: bool = False,
) -> Report:
    """Units back and their value per disposition, for lines inspected in the period, with the
    value a disposition is expected to recover (`recovery_bp`, basis points per disposition)."""
    rates = {str(name): bp for name, bp in (recovery_bp or DEFAULT_RECOVERY_BP).items()}
    if period.whole_days() and not detail:
        d = rollup_dispositions.c
        query = (
            select(d.currency, d.disposition, *(func.sum(d[figure]).label(figure) for figure in DISPOSITION_FIGURES))
            .where(*_on_days(d, period, currency))
            .group_by(d.currency, d.disposition)
            .having(func.sum(d.lines) > 0)
            .order_by(d.currency, d.disposition)
        )
    else:
        lines = return_lines.c
        query = (
            select(
                lines.currency,
                lines.disposition,
                func.count().label("lines"),
                func.sum(lines.units_back).label("units"),
                func.sum(lines.units_back * lines.unit_price).label("value"),
            )
            .where(_in(lines.inspected_at, period), lines.disposition.is_not(None), lines.declined.is_(None))
            .group_by(lines.currency, lines.disposition)
            .order_by(lines.currency, lines.disposition)
        )
        if currency:
            query = query.where(lines.currency == currency)
    rows = []
    for row in _run(store, query):
        rate = rates.get(row["disposition"], 0)
        value = int(row["value"] or 0)
        rows.append(
            {
                **row,
                "units": int(row["units"] or 0),
                "value": value,
                "recovery_bp": rate,
                "recovery_estimate": value * rate // 10_000,
            }
        )
    columns = ["currency", "disposition", "lines", "units", "value", "recovery_bp", "recovery_estimate"]
    return Report("dispositions", columns, rows, _parameters(period, currency, recovery_bp=rates))


# --- Operations ---------------------------------------------------------------------------------


def open_returns(
    store: EventStore, *, as_of: datetime | None = None, period: Period | None = None, currency: str | None = None
) -> Report:
    """Returns not closed yet, by stage and age (time since the request, at `as_of`)."""
    as_of = as_of or datetime.now(UTC)
    r = returns.c
    bounds = [as_of - timedelta(days=days) for days in AGE_BUCKETS_DAYS]
    labels = [f"{low}-{high}d" for low, high in zip((0, *AGE_BUCKETS_DAYS), AGE_BUCKETS_DAYS, strict=False)]
    bucket = case(
        *((r.requested_at > bound, label) for bound, label in zip(bounds, labels, strict=True)),
        else_=f"{AGE_BUCKETS_DAYS[-1]}d+",
    ).label("age")
    query = select(
        r.stage, bucket, func.count().label("returns"), func.min(r.requested_at).label("oldest_requested_at")
    )
    query = query.where(r.is_open).group_by(r.stage, bucket).order_by(r.stage, bucket)
    if period is not None:
        query = query.where(_in(r.requested_at, period))
    if currency:
        query = query.where(r.currency == currency)
    columns = ["stage", "age", "returns", "oldest_requested_at"]
    return Report("open_returns", columns, _run(store, query), _parameters(period, currency, as_of=as_of))


def needs_attention(store: EventStore, *, period: Period | None = None, currency: str | None = None) -> Report:
    """Returns waiting for an operator now, by failed step and error type."""
    r = returns.c
    query = (
        select(
            r.attention_step.label("step"),
            r.attention_error_type.label("error_type"),
            func.count().label("returns"),
            func.min(r.attention_since).label("oldest_since"),
        )
        .where(r.needs_attention)
        .group_by(r.attention_step, r.attention_error_type)
        .order_by(func.count().desc(), r.attention_step, r.attention_error_type)
    )
    if period is not None:
        query = query.where(_in(r.requested_at, period))
    if currency:
        query = query.where(r.currency == currency)
    columns = ["step", "error_type", "returns", "oldest_since"]
    return Report("needs_attention", columns, _run(store, query), _parameters(period, currency))


def needs_attention_trend(store: EventStore, period: Period, currency: str | None = None) -> Report:
    """Per day of the period (UTC): returns flagged for attention (a failed step, a passed deadline,
    a decision needed) and flags cleared, from the events themselves, counted per day by the
    database (a year holds hundreds of thousands of flags: too many rows to hand to Python)."""
    e = events.c
    day = _utc_day(store, e.created_at)
    kinds = (EventType.needs_attention.value, EventType.attention_cleared.value)
    query = (
        select(e.type, day.label("day"), func.count().label("events"))
        .where(e.type.in_(kinds), _in(e.created_at, period))
        .group_by(e.type, day)
    )
    if currency:
        query = query.where(e.return_id.in_(select(returns.c.return_id).where(returns.c.currency == currency)))
    first, last = period.first_day(), (period.end - timedelta(microseconds=1)).astimezone(UTC).date()
    days = {first + timedelta(days=n): {"flagged": 0, "cleared": 0} for n in range((last - first).days + 1)}
    for row in _run(store, query):
        counted = row["day"] if isinstance(row["day"], date) else date.fromisoformat(row["day"])
        days[counted]["flagged" if row["type"] == EventType.needs_attention.value else "cleared"] += row["events"]
    rows = [{"day": day.isoformat(), **counts} for day, counts in days.items()]
    return Report("needs_attention_trend", ["day", "flagged", "cleared"], rows, _parameters(period, currency))


def _utc_day(store: EventStore, column: Any) -> Any:
    """The UTC date of a timestamp column, in SQL: SQLite holds naive UTC text (its first 10
    characters are the date); PostgreSQL a timestamptz, seen in UTC whatever the session's zone."""
    if is_sqlite(store.engine):
        return func.substr(column, 1, 10)
    return func.date(func.timezone("UTC", column))


def expired_labels(
    store: EventStore, period: Period, currency: str | None = None, *, label_cost: Mapping[str, int] | None = None
) -> Report:
    """Returns that expired in the period with a label bought: how many labels, how many were
    voided, and what they cost. A label's price comes from its status when it carries one;
    otherwise from `label_cost` (minor units per label, per currency), if given."""
    r = returns.c
    query = (
        select(
            r.currency,
            func.count().label("labels"),
            func.sum(case((r.label_voided.is_(True), 1), else_=0)).label("voided"),
            func.sum(case((r.label_cost.is_(None), 1), else_=0)).label("without_price"),
            func.coalesce(func.sum(r.label_cost), 0).label("priced_cost"),
        )
        .where(r.stage == "expired", _in(r.closed_at, period), r.label_issued.is_(True))
        .group_by(r.currency)
        .order_by(r.currency)
    )
    if currency:
        query = query.where(r.currency == currency)
    estimates = dict(label_cost or {})
    rows = []
    for row in _run(store, query):
        estimate = estimates.get(row["currency"])
        unpriced = int(row["without_price"])
        cost = int(row["priced_cost"]) + (unpriced * estimate if estimate is not None else 0)
        rows.append(
            {
                "currency": row["currency"],
                "labels": int(row["labels"]),
                "voided": int(row["voided"]),
                "without_price": unpriced,
                "cost": cost if estimate is not None or not unpriced else None,
            }
        )
    columns = ["currency", "labels", "voided", "without_price", "cost"]
    return Report("expired_labels", columns, rows, _parameters(period, currency, label_cost=estimates))


# --- Customers ------------------------------------------------------------------------------------


def returns_per_customer(store: EventStore, period: Period, currency: str | None = None) -> Report:
    """How many customers started 1, 2, 3... returns in the period."""
    r = returns.c
    per_customer = select(r.customer_id, func.count().label("returns"))
    per_customer = per_customer.where(_in(_unindexed(store, r.requested_at), period))
    if currency:
        per_customer = per_customer.where(r.currency == currency)
    counted = per_customer.group_by(r.customer_id).subquery()
    query = (
        select(counted.c.returns, func.count().label("customers"))
        .group_by(counted.c.returns)
        .order_by(counted.c.returns)
    )
    # PostgreSQL underestimates how many customers a long period holds (a third of the 300,000 in a
    # year of a million returns) and then counts them in a hash table: 1.19 s, and its plan changes
    # as statistics do. Counted in the customer index's order instead: 0.53 s (docs/benchmarks.md).
    rows = _run(store, query, groups_in_index_order=True)
    return Report("returns_per_customer", ["returns", "customers"], rows, _parameters(period, currency))


def top_repeat_returners(
    store: EventStore,
    period: Period,
    currency: str | None = None,
    *,
    limit: int = 20,
    min_returns: int = 2,
    detail: bool = False,
) -> Report:
    """Customers with the most returns requested in the period (at least `min_returns`). Over whole
    days only the customers who could be among them are counted (`_could_be_top`); `detail=True`
    counts every customer."""
    r = returns.c
    query = (
        select(
            r.customer_id,
            func.count().label("returns"),
            func.sum(r.units_requested).label("units"),
            func.min(r.requested_at).label("first_requested_at"),
            func.max(r.requested_at).label("last_requested_at"),
        )
        .where(_in(_unindexed(store, r.requested_at), period))
        .group_by(r.customer_id)
        .having(func.count() >= min_returns)
        .order_by(func.count().desc(), r.customer_id)
        .limit(limit)
    )
    if currency:
        query = query.where(r.currency == currency)
    if period.whole_days() and not detail:
        candidates = _could_be_top(store, period, currency, limit, min_returns)
        if candidates is not None:
            query = query.where(r.customer_id.in_(sorted(candidates)))
    columns = ["customer_id", "returns", "units", "first_requested_at", "last_requested_at"]
    rows = [{**row, "units": int(row["units"] or 0)} for row in _run(store, query)]
    return Report(
        "top_repeat_returners", columns, rows, _parameters(period, currency, limit=limit, min_returns=min_returns)
    )


MAX_CANDIDATES = 5_000  # beyond it, counting every customer is as quick


def _could_be_top(
    store: EventStore, period: Period, currency: str | None, limit: int, min_returns: int
) -> set[str] | None:
    """Every customer whose returns in the period could reach the top `limit`, found without
    counting everyone's; None where that would not save reading every customer.

    1. The exact counts of the customers busiest in any one month give a floor: the top `limit`
       all have at least the `limit`-th of those counts (and `min_returns`).
    2. A customer with at least that many returns over the period's buckets (its whole months,
       and the days before and after them) has at least floor / buckets in one of them
       (pigeonhole). The monthly rollup's index answers who has that many in a month, from the
       top down; the edge days are counted from the detail rows.
    """
    months_from, months_to = whole_months(period.first_day(), period.end_day())
    if months_from == months_to:
        return None
    m = rollup_customers_monthly.c
    in_months = [m.day >= months_from, m.day < months_to, m.currency == (currency or ALL_CURRENCIES)]
    edges = [
        Period(start, end)
        for start, end in (
            (period.start, _midnight(months_from)),
            (_midnight(months_to), period.end),
        )
        if start < end
    ]
    buckets = (months_to.year - months_from.year) * 12 + months_to.month - months_from.month + len(edges)
    busiest = select(m.customer_id).where(*in_months).order_by(m.returns.desc()).limit(limit * 5)
    r = returns.c
    counted = select(r.customer_id, func.count().label("returns")).where(_in(_unindexed(store, r.requested_at), period))
    if currency:
        counted = counted.where(r.currency == currency)
    with store.reading() as reader:
        sample = [row.customer_id for row in reader.execute(busiest)]
        counts = sorted(
            (row.returns for row in reader.execute(counted.where(r.customer_id.in_(sample)).group_by(r.customer_id))),
            reverse=True,
        )
        floor = max(counts[limit - 1] if len(counts) >= limit else 0, min_returns)
        share = math.ceil(floor / buckets)
        if share <= 1:
            return None
        found = set(reader.execute(select(m.customer_id).where(m.returns >= share, *in_months)).scalars())
        for edge in edges:
            on_edge = (
                select(r.customer_id)
                .where(_in(r.requested_at, edge), *([r.currency == currency] if currency else []))
                .group_by(r.customer_id)
                .having(func.count() >= share)
            )
            found |= set(reader.execute(on_edge).scalars())
    return found if len(found) <= MAX_CANDIDATES else None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


# --- By name (the HTTP API's /v1/reports/{name}) ------------------------------------------------


class ReportName(StrEnum):
    returns_by_reason = "returns_by_reason"
    returns_by_sku = "returns_by_sku"
    returns_by_category = "returns_by_category"
    return_rate_by_sku = "return_rate_by_sku"
    return_rate_by_category = "return_rate_by_category"
    return_rate_by_month = "return_rate_by_month"
    money = "money"
    durations = "durations"
    dispositions = "dispositions"
    open_returns = "open_returns"
    needs_attention = "needs_attention"
    needs_attention_trend = "needs_attention_trend"
    expired_labels = "expired_labels"
    returns_per_customer = "returns_per_customer"
    top_repeat_returners = "top_repeat_returners"


# Snapshots of now: without a period they cover every return, not a window.
SNAPSHOTS = frozenset({ReportName.open_returns, ReportName.needs_attention})


def report(store: EventStore, name: ReportName, period: Period | None, currency: str | None = None) -> Report:
    """The report called `name`; `period` may be None only for the snapshots."""
    if name in SNAPSHOTS:
        snapshot = open_returns if name is ReportName.open_returns else needs_attention
        return snapshot(store, period=period, currency=currency)
    if period is None:
        raise ValueError(f"the {name.value} report needs a period")
    if name in (ReportName.return_rate_by_sku, ReportName.return_rate_by_category):
        by = name.value.removeprefix("return_rate_by_")
        return return_rates(store, period, StoredUnitsSold(store.engine), currency, by=by)
    if name is ReportName.return_rate_by_month:
        return return_rate_by_month(store, period, StoredUnitsSold(store.engine), currency)
    over_a_period = {
        ReportName.returns_by_reason: by_reason,
        ReportName.returns_by_sku: by_sku,
        ReportName.returns_by_category: by_category,
        ReportName.money: money,
        ReportName.durations: durations,
        ReportName.dispositions: dispositions,
        ReportName.expired_labels: expired_labels,
        ReportName.needs_attention_trend: needs_attention_trend,
        ReportName.returns_per_customer: returns_per_customer,
        ReportName.top_repeat_returners: top_repeat_returners,
    }
    return over_a_period[name](store, period, currency)
