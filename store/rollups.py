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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from store.schema import (
    LINE_FIGURES,
    MONEY_FIGURES,
    rollup_categories,
    rollup_dispositions,
    rollup_money,
    rollup_reasons,
    rollup_skus,
)

DISPOSITION_FIGURES = ("lines", "units", "value")

# table: (key columns after day, figure columns)
ROLLUPS: dict[str, tuple[Table, tuple[str, ...], tuple[str, ...]]] = {
    "rollup_reasons": (rollup_reasons, ("currency", "reason"), LINE_FIGURES),
    "rollup_categories": (rollup_categories, ("currency", "category"), LINE_FIGURES),
    "rollup_skus": (rollup_skus, ("currency", "sku", "category"), LINE_FIGURES),
    "rollup_money": (rollup_money, ("currency",), MONEY_FIGURES),
    "rollup_dispositions": (rollup_dispositions, ("currency", "disposition"), DISPOSITION_FIGURES),
}
NO_CATEGORY = ""  # keys can't be NULL; reports turn it back into None

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
    return out


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
