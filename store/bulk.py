"""Bulk loading: many returns' events at once, for the generator and the benchmark.

The read model comes from the same projection as `append` (`project_all`), but rows go
straight to the driver in large batches: SQLite `executemany` in one transaction per batch,
PostgreSQL `COPY`. Only for an empty store or returns it doesn't hold yet: unlike `append`,
it neither merges nor checks for conflicts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table

from store import rollups
from store.db import is_sqlite
from store.events import ReturnEvent
from store.projection import project_all
from store.sales import StoredUnitsSold
from store.schema import events, return_lines, return_statuses, returns, units_sold
from store.store import EventStore

_EVENT_COLUMNS = ["id", "return_id", "sequence", "type", "api_version", "created_at", "recorded_at", "data"]
_JSON_COLUMNS = {"data", "status"}  # written as JSON text by `prepare`


def _columns(table: Table) -> list[str]:
    return [column.name for column in table.columns if not (column.primary_key and column.autoincrement is True)]


def bulk_load(
    store: EventStore,
    stream: Iterable[list[ReturnEvent]],
    *,
    sales: Iterable[dict[str, Any]] | None = None,
    batch_returns: int = 2_000,
) -> dict[str, int]:
    """Writes each return's events and its read-model rows; answers the counts written."""
    writer = writer_for(store)
    counts = {"returns": 0, "events": 0, "lines": 0, "sales_rows": 0}
    try:
        for batch in prepare(stream, batch_returns=batch_returns):
            writer.write(batch)
            counts["returns"] += len(batch["returns"])
            counts["events"] += len(batch["events"])
            counts["lines"] += len(batch["return_lines"])
        if sales is not None:
            for chunk in _chunks(sales, 20_000):
                writer.write({"units_sold": chunk})
                counts["sales_rows"] += len(chunk)
    finally:
        writer.close()
    if counts["sales_rows"]:
        StoredUnitsSold(store.engine).sum_months()
    return counts


def prepare(stream: Iterable[list[ReturnEvent]], *, batch_returns: int = 2_000) -> Iterator[dict[str, list[dict]]]:
    """Batches of rows for `writer.write`: events (data as JSON text), returns, return_lines."""
    recorded_at = datetime.now(UTC)
    batch: dict[str, list[dict[str, Any]]] = _empty()
    summed: rollups.Contributions = {}
    for return_events in stream:
        if not return_events:
            continue
        row, lines = project_all(return_events)
        rollups.merge(summed, rollups.contributions(row, lines))
        batch["returns"].append(row)
        batch["return_statuses"].append({"return_id": row["return_id"], "status": _json(row["status"])})
        batch["return_lines"].extend(lines)
        batch["events"].extend(
            {
                "id": event.id,
                "return_id": event.return_id,
                "sequence": event.sequence,
                "type": str(event.type),
                "api_version": event.api_version,
                "created_at": event.created_at,
                "recorded_at": recorded_at,
                "data": _json(event.data),
            }
            for event in return_events
        )
        if len(batch["returns"]) >= batch_returns:
            yield {**batch, "rollups": summed}
            batch, summed = _empty(), {}
    if batch["returns"]:
        yield {**batch, "rollups": summed}


def _empty() -> dict[str, list[dict[str, Any]]]:
    # parents first: the foreign keys are checked row by row
    return {"returns": [], "return_statuses": [], "return_lines": [], "events": []}


def writer_for(store: EventStore) -> _SqliteWriter | _PostgresWriter:
    return _SqliteWriter(store) if is_sqlite(store.engine) else _PostgresWriter(store)


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_TABLES = {
    "events": events,
    "returns": returns,
    "return_statuses": return_statuses,
    "return_lines": return_lines,
    "units_sold": units_sold,
}


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class _SqliteWriter:
    def __init__(self, store: EventStore) -> None:
        self.raw = store.engine.raw_connection()
        self.statements = {
            name: (
                columns := _EVENT_COLUMNS if name == "events" else _columns(table),
                f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
            )
            for name, table in _TABLES.items()
        }

    @staticmethod
    def _value(name: str, value: Any) -> Any:
        if isinstance(value, datetime):  # as store.schema.UtcDateTime writes it on SQLite
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        if name in _JSON_COLUMNS and not isinstance(value, str):
            return _json(value)
        return value.isoformat() if hasattr(value, "isoformat") else value

    def write(self, batch: dict[str, Any]) -> None:
        cursor = self.raw.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            for name, rows in batch.items():
                if name == "rollups":
                    _write_rollups(cursor, rows, "?")
                    continue
                columns, statement = self.statements[name]
                cursor.executemany(statement, [[self._value(c, row.get(c)) for c in columns] for row in rows])
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        finally:
            cursor.close()

    def close(self) -> None:
        self.raw.close()


class _PostgresWriter:
    def __init__(self, store: EventStore) -> None:
        self.raw = store.engine.raw_connection()
        self.columns = {name: _EVENT_COLUMNS if name == "events" else _columns(t) for name, t in _TABLES.items()}

    def write(self, batch: dict[str, Any]) -> None:
        cursor = self.raw.cursor()
        try:
            for name, rows in batch.items():
                if name == "rollups":
                    _write_rollups(cursor, rows, "%s")
                    continue
                columns = self.columns[name]
                with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([row.get(c) for c in columns])
            self.raw.commit()
        except BaseException:
            self.raw.rollback()
            raise
        finally:
            cursor.close()

    def close(self) -> None:
        self.raw.close()


def _write_rollups(cursor: Any, changes: rollups.Contributions, placeholder: str) -> None:
    """Adds a batch's rollup figures (an upsert: other batches may have filled the same days)."""
    for name, rows in changes.items():
        if not rows:
            continue
        _table, keys, figures = rollups.ROLLUPS[name]
        columns = ["day", *keys, *figures]
        statement = (
            f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join(placeholder for _ in columns)}) "
            f"ON CONFLICT ({', '.join(['day', *keys])}) DO UPDATE SET "
            + ", ".join(f"{figure} = {name}.{figure} + excluded.{figure}" for figure in figures)
        )
        cursor.executemany(
            statement,
            [[key[0].isoformat() if placeholder == "?" else key[0], *key[1:], *delta] for key, delta in rows.items()],
        )
