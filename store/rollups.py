"""Daily rollups: the report figures of each day, kept beside the detail rows.

A report over a year of a million returns would otherwise group a million rows per call
(several seconds on SQLite). Each rollup row is a day (UTC, by the date of the event that
dates the figure) and a few keys; an append changes the rows of its return's old and new
contributions by the difference, in the same transaction, so the rollups always equal the
sums of the detail tables (a test holds them to that). Reports use them for periods of whole
days and the detail tables otherwise.

| table | day of | keys (after currency) | figures |
|---|---|---|---|
| rollup_reasons, _categories, _skus | request | reason; category; sku, category | LINE_FIGURES |
| rollup_money | first resolution | (none) | MONEY_FIGURES |
| rollup_dispositions | inspection | disposition | DISPOSITION_FIGURES |
| rollup_durations | the duration's end (DURATION_METRICS) | metric, method, bucket | returns |
| rollup_customers_monthly (monthly only) | request | customer_id (currency `*`: all of them) | returns |

The widest (SKUs, durations) have monthly twins (`MONTHLY`, `day` the month's first) kept by the
same appends: a year then reads 12 rows per key instead of 365, and a period's edges that are
not whole months come from the daily rows.

Durations are kept as a logarithmic histogram (DDSketch's mapping): a duration d >= 1 s falls
in bucket ceil(log(d) / log(GAMMA)) + 1, whose representative value is within
DURATION_ACCURACY (1%) of every duration in it, so a percentile read from the buckets is
within 1% of the exact one, whatever the period's size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from store.schema import (
    LINE_FIGURES,
    MONEY_FIGURES,
    rollup_categories,
    rollup_customers_monthly,
    rollup_dispositions,
    rollup_durations,
    rollup_durations_monthly,
    rollup_money,
    rollup_reasons,
    rollup_skus,
    rollup_skus_monthly,
)

DISPOSITION_FIGURES = ("lines", "units", "value")
DURATION_KEYS = ("currency", "metric", "method", "bucket")
DURATION_METRICS = {  # metric: (duration column of `returns`, the date column that dates it)
    "request_to_first_scan": ("request_to_first_scan_s", "first_scan_at"),
    "delivered_to_inspected": ("delivered_to_inspected_s", "inspected_at"),
    "inspected_to_resolved": ("inspected_to_resolved_s", "resolved_at"),
    "request_to_resolved": ("request_to_resolved_s", "resolved_at"),
}
DURATION_ACCURACY = 0.01
GAMMA = (1 + DURATION_ACCURACY) / (1 - DURATION_ACCURACY)
_LOG_GAMMA = math.log(GAMMA)

# table: (key columns after day, figure columns)
ROLLUPS: dict[str, tuple[Table, tuple[str, ...], tuple[str, ...]]] = {
    "rollup_reasons": (rollup_reasons, ("currency", "reason"), LINE_FIGURES),
    "rollup_categories": (rollup_categories, ("currency", "category"), LINE_FIGURES),
    "rollup_skus": (rollup_skus, ("currency", "sku", "category"), LINE_FIGURES),
    "rollup_money": (rollup_money, ("currency",), MONEY_FIGURES),
    "rollup_dispositions": (rollup_dispositions, ("currency", "disposition"), DISPOSITION_FIGURES),
    "rollup_durations": (rollup_durations, DURATION_KEYS, ("returns",)),
    "rollup_skus_monthly": (rollup_skus_monthly, ("currency", "sku", "category"), LINE_FIGURES),
    "rollup_durations_monthly": (rollup_durations_monthly, DURATION_KEYS, ("returns",)),
    "rollup_customers_monthly": (rollup_customers_monthly, ("currency", "customer_id"), ("returns",)),
}
MONTHLY = {"rollup_skus": "rollup_skus_monthly", "rollup_durations": "rollup_durations_monthly"}
NO_CATEGORY = ""  # keys can't be NULL; reports turn it back into None
ALL_CURRENCIES = "*"  # rollup_customers_monthly: the customer's returns in every currency together

Contributions = dict[str, dict[tuple[Any, ...], list[int]]]


def contributions(row: Mapping[str, Any] | None, lines: Iterable[Mapping[str, Any]]) -> Contributions:
    """What one return adds to each rollup, given its read-model row and lines."""
    out: Contributions = {name: {} for name in ROLLUPS}
    if row is None:
        return out

    def add(name: str, key: tuple[Any, ...], figures: Iterable[int]) -> None:
        total = out[name].setdefault(key, [0] * len(ROLLUPS[name][2]))
        for index, value in enumerate(figures):
            total[index] += value

    currency = row["currency"]
    for line in lines:
        if line["declined"]:
            continue
        day = line["requested_at"].date()
        category = line["category"] or NO_CATEGORY
        units, back, value = line["quantity"], line["units_back"], line["quantity"] * line["unit_price"]
        add("rollup_reasons", (day, currency, line["reason"]), (line["counts_reason"], 1, units, back, value))
        add("rollup_categories", (day, currency, category), (line["counts_category"], 1, units, back, value))
        add("rollup_skus", (day, currency, line["sku"], category), (line["counts_sku"], 1, units, back, value))
        if line["disposition"] and line["inspected_at"]:
            key = (line["inspected_at"].date(), currency, line["disposition"])
            add("rollup_dispositions", key, (1, back, back * line["unit_price"]))
    if row.get("resolved_at"):
        keep_it = row["refunded"] + row["credited"] + row["refund_pending"] if row["method"] == "keep_it" else 0
        money = (
            1,
            row["returned_value"],
            row["refunded"],
            row["refund_pending"],
            row["refund_failed"],
            row["credited"],
            row["credit_bonus"],
            row["exchanged_value"],
            row["fees"],
            keep_it,
        )
        add("rollup_money", (row["resolved_at"].date(), currency), money)
    out["rollup_durations"] = durations_histogram(row)
    if row.get("requested_at"):
        month = month_of(row["requested_at"].date())
        for counted_in in (currency, ALL_CURRENCIES):  # a customer's returns in one currency, and in all
            add("rollup_customers_monthly", (month, counted_in, row["customer_id"]), (1,))
    add_monthly(out)
    return out


def add_monthly(out: Contributions) -> None:
    """Adds the monthly twins' rows: the daily rows summed per month."""
    for daily, monthly in MONTHLY.items():
        merge(out, {monthly: {}})
        for key, figures in out.get(daily, {}).items():
            merge(out, {monthly: {(month_of(key[0]), *key[1:]): figures}})


def durations_histogram(row: Mapping[str, Any]) -> dict[tuple[Any, ...], list[int]]:
    """One return's daily histogram rows: a count of 1 in each measured duration's bucket."""
    out = {}
    for metric, (duration, ended) in DURATION_METRICS.items():
        if row.get(duration) is not None and row.get(ended) is not None:
            key = (row[ended].date(), row["currency"], metric, row["method"], duration_bucket(row[duration]))
            out[key] = [1]
    return out


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def whole_months(first: date, end: date) -> tuple[date, date]:
    """The first days of the first whole month in first <= day < end and of the month after its
    last (equal when there is none): the part a monthly rollup answers."""
    months_from = first if first.day == 1 else next_month(first)
    return months_from, max(months_from, end.replace(day=1))


def duration_bucket(seconds: float) -> int:
    """The histogram bucket of a duration: 0 under a second, else ceil(log_GAMMA(seconds)) + 1."""
    if seconds < 1:
        return 0
    return math.ceil(math.log(seconds) / _LOG_GAMMA) + 1


def bucket_value(bucket: int) -> float:
    """The value that stands for a bucket's durations, within DURATION_ACCURACY of each."""
    if bucket == 0:
        return 0.0
    return 2 * GAMMA ** (bucket - 1) / (GAMMA + 1)


def difference(before: Contributions, after: Contributions) -> Contributions:
    """after - before, without the keys that didn't change."""
    out: Contributions = {}
    for name in ROLLUPS:
        changed = {}
        for key in before.get(name, {}).keys() | after.get(name, {}).keys():
            old = before.get(name, {}).get(key)
            new = after.get(name, {}).get(key)
            width = len(ROLLUPS[name][2])
            delta = [(new[i] if new else 0) - (old[i] if old else 0) for i in range(width)]
            if any(delta):
                changed[key] = delta
        if changed:
            out[name] = changed
    return out


def merge(into: Contributions, more: Contributions) -> None:
    for name, rows in more.items():
        target = into.setdefault(name, {})
        for key, figures in rows.items():
            total = target.setdefault(key, [0] * len(figures))
            for index, value in enumerate(figures):
                total[index] += value


def _upsert(dialect: str, name: str) -> Any:
    table, keys, figures = ROLLUPS[name]
    statement = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c[column] for column in ("day", *keys)],
        set_={column: table.c[column] + statement.excluded[column] for column in figures},
    )


_UPSERTS = {dialect: {name: _upsert(dialect, name) for name in ROLLUPS} for dialect in ("sqlite", "postgresql")}


def apply(connection: Connection, changes: Contributions) -> None:
    """Adds the changes to the rollup rows, creating rows as needed. Tables and keys go in a
    fixed order, so concurrent appends lock PostgreSQL rows in the same order (no deadlock)."""
    upserts = _UPSERTS["sqlite" if connection.dialect.name == "sqlite" else "postgresql"]
    for name in ROLLUPS:
        rows = changes.get(name)
        if not rows:
            continue
        _table, keys, figures = ROLLUPS[name]
        values = [
            {"day": key[0], **dict(zip(keys, key[1:], strict=True)), **dict(zip(figures, delta, strict=True))}
            for key, delta in sorted(rows.items(), key=lambda item: _sortable(item[0]))
        ]
        connection.execute(upserts[name], values)


def _sortable(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(part.isoformat() if isinstance(part, date) else part for part in key)
