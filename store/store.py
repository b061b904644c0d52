"""The event store: append events of returns, read them back, keep the read model.

    store = EventStore.open()                   # EVENT_STORE_URL, default sqlite:///.run/returns.db
    appended = store.append(event)              # idempotent; appended.created says whether it was new
    store.status("R-1001")                      # ReturnStatus from the read model, or None
    store.timeline("R-1001"); store.events_of("R-1001"); store.events_between(start, end)

Every method is synchronous and thread-safe (one connection per call from the pool): an
async caller (a Temporal activity) runs them with `asyncio.to_thread`, or is a sync activity.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, Row, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from store import rollups
from store.db import is_sqlite, make_engine, write_transaction
from store.events import ReturnEvent
from store.projection import current_lines, project
from store.rollups import contributions
from store.schema import events, return_lines, return_statuses, returns
from workflows.models import ReturnStatus, TimelineEntry

log = structlog.get_logger("store")


class EventConflictError(Exception):
    """An event with this id (return and sequence) is stored with different content."""

    def __init__(self, stored: ReturnEvent, offered: ReturnEvent) -> None:
        super().__init__(
            f"event {offered.id} is already stored with different content "
            f"(stored type {stored.type}, offered type {offered.type})"
        )
        self.stored = stored
        self.offered = offered


@dataclass(frozen=True)
class Appended:
    event: ReturnEvent  # as stored
    created: bool  # False: the same event was already there, nothing changed


@dataclass(frozen=True)
class EventPage:
    events: list[ReturnEvent]
    next_cursor: str | None  # pass back as `after` for the next page; None: no more


class EventStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sqlite = is_sqlite(engine)
        # Statements built once, values passed apart: SQLAlchemy then reuses their compiled form
        # instead of keying its cache on every value (most of an append's cost otherwise).
        dialect_insert = sqlite.insert if self._sqlite else postgresql.insert
        self._insert_event = dialect_insert(events).on_conflict_do_nothing().returning(events.c.position)
        self._insert_return = dialect_insert(returns).on_conflict_do_nothing().returning(returns.c.return_id)
        self._update_return = update(returns).where(returns.c.return_id == bindparam("key"))
        self._update_status = update(return_statuses).where(return_statuses.c.return_id == bindparam("key"))
        self._delete_lines = delete(return_lines).where(return_lines.c.return_id == bindparam("key"))
        locked = (
            select(returns, return_statuses.c.status)
            .join(return_statuses, return_statuses.c.return_id == returns.c.return_id)
            .where(returns.c.return_id == bindparam("key"))
        )
        self._select_locked = locked if self._sqlite else locked.with_for_update(of=returns)

    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool = False, **engine_options: Any) -> EventStore:
        """Opens the store at `url` (default EVENT_STORE_URL); `migrate=True` upgrades its schema first."""
        if migrate:
            from store.migrate import migrate as run_migrations

            run_migrations(url)
        return cls(make_engine(url, **engine_options))

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One write transaction (SQLite: holding the write lock from its start)."""
        with write_transaction(self.engine) as connection:
            yield connection

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.engine.connect() as connection, connection.begin():
            yield connection

    # --- Append ---------------------------------------------------------------------------

    def append(self, event: ReturnEvent) -> Appended:
        """Stores `event` and updates the read model, in one transaction.

        The same event again is a no-op that answers the stored one; another event under
        the same id (the same return and sequence) raises EventConflictError. Gaps and late
        arrivals are fine: the read model follows the highest sequence seen.
        """
        with self.writing() as connection:
            return self._append(connection, event)

    def append_many(self, batch: Iterable[ReturnEvent]) -> list[Appended]:
        """Appends several events in one transaction (each with `append`'s rules)."""
        with self.writing() as connection:
            return [self._append(connection, event) for event in batch]

    def _append(self, connection: Connection, event: ReturnEvent) -> Appended:
        now = datetime.now(UTC)
        row = _event_row(event, recorded_at=now)
        inserted = connection.execute(self._insert_event, row).first()
        if inserted is None:
            stored = self.event(event.id, connection=connection) or self._event_at(connection, event)
            if stored is None:  # pragma: no cover - the conflicting row vanished: nothing deletes events
                raise RuntimeError(f"event {event.id} conflicted but is not stored")
            if not stored.same_content(event):
                log.warning("event conflict", return_id=event.return_id, sequence=event.sequence, event_id=event.id)
                raise EventConflictError(stored, event)
            return Appended(stored, created=False)
        self._project(connection, event)
        return Appended(event, created=True)

    def _project(self, connection: Connection, event: ReturnEvent) -> None:
        current = self._locked_return(connection, event.return_id)
        row, lines = project(event, current)
        if current is None:
            created = connection.execute(self._insert_return, _figures(row)).first()
            if created is None:  # another transaction created it first: merge into theirs
                current = self._locked_return(connection, event.return_id)
                row, lines = project(event, current)
            else:
                connection.execute(insert(return_statuses), {"return_id": event.return_id, "status": row["status"]})
        previous_lines = current_lines(current) if current is not None else []
        rollups.apply(connection, rollups.difference(contributions(current, previous_lines), contributions(row, lines)))
        if current is not None:
            changed = {name: value for name, value in _figures(row).items() if name != "return_id"}
            connection.execute(self._update_return, {**changed, "key": event.return_id})
            if event.sequence == row["last_sequence"]:  # the newest status: an older event changes only times
                connection.execute(self._update_status, {"status": row["status"], "key": event.return_id})
            if lines == previous_lines:  # most events change the status, not the lines
                return
            connection.execute(self._delete_lines, {"key": event.return_id})
        if lines:
            connection.execute(insert(return_lines), lines)

    def _locked_return(self, connection: Connection, return_id: str) -> dict[str, Any] | None:
        # PostgreSQL: FOR UPDATE; SQLite's write transaction already excludes every other writer
        found = connection.execute(self._select_locked, {"key": return_id}).mappings().first()
        return dict(found) if found else None

    def _event_at(self, connection: Connection, event: ReturnEvent) -> ReturnEvent | None:
        found = connection.execute(
            select(events).where(events.c.return_id == event.return_id, events.c.sequence == event.sequence)
        ).first()
        return _event(found) if found else None

    # --- Reads ------------------------------------------------------------------------------

    def event(self, event_id: str, *, connection: Connection | None = None) -> ReturnEvent | None:
        query = select(events).where(events.c.id == event_id)
        if connection is not None:
            found = connection.execute(query).first()
        else:
            with self.reading() as reader:
                found = reader.execute(query).first()
        return _event(found) if found else None

    def events_of(self, return_id: str, *, after_sequence: int = 0, limit: int | None = None) -> list[ReturnEvent]:
        """A return's events in sequence order (gaps stay gaps)."""
        query = (
            select(events)
            .where(events.c.return_id == return_id, events.c.sequence > after_sequence)
            .order_by(events.c.sequence)
            .limit(limit)
        )
        with self.reading() as reader:
            return [_event(row) for row in reader.execute(query)]

    def events_between(
        self,
        start: datetime,
        end: datetime,
        *,
        types: Sequence[str] | None = None,
        limit: int = 1000,
        after: str | None = None,
    ) -> EventPage:
        """Events with start <= created_at < end, oldest first, a page at a time."""
        query = select(events).where(events.c.created_at >= start, events.c.created_at < end)
        if types:
            query = query.where(events.c.type.in_([str(kind) for kind in types]))
        if after:
            at, position = _parse_cursor(after)
            query = query.where(
                or_(events.c.created_at > at, and_(events.c.created_at == at, events.c.position > position))
            )
        query = query.order_by(events.c.created_at, events.c.position).limit(limit + 1)
        with self.reading() as reader:
            rows = reader.execute(query).all()
        page = [_event(row) for row in rows[:limit]]
        cursor = f"{rows[limit - 1].created_at.isoformat()}|{rows[limit - 1].position}" if len(rows) > limit else None
        return EventPage(page, cursor)

    def record(self, return_id: str) -> dict[str, Any] | None:
        """The read model's row of a return (latest status, step times, money figures), or None."""
        with self.reading() as reader:
            found = reader.execute(select(returns).where(returns.c.return_id == return_id)).mappings().first()
            if found is None:
                return None
            lines = reader.execute(
                select(return_lines).where(return_lines.c.return_id == return_id).order_by(return_lines.c.line_id)
            ).mappings()
            status = reader.execute(
                select(return_statuses.c.status).where(return_statuses.c.return_id == return_id)
            ).scalar()
            return {**found, "status": status, "lines": [dict(line) for line in lines]}

    def status(self, return_id: str) -> ReturnStatus | None:
        """The return's latest status as the store knows it: what `GET /v1/returns/{id}`
        answers once Temporal has deleted the closed run."""
        with self.reading() as reader:
            found = reader.execute(
                select(return_statuses.c.status).where(return_statuses.c.return_id == return_id)
            ).scalar()
        return ReturnStatus.model_validate(found) if found is not None else None

    def timeline(self, return_id: str) -> list[TimelineEntry] | None:
        status = self.status(return_id)
        return status.timeline if status is not None else None


def _figures(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name != "status"}


def _event_row(event: ReturnEvent, *, recorded_at: datetime) -> dict[str, Any]:
    return {
        "id": event.id,
        "return_id": event.return_id,
        "sequence": event.sequence,
        "type": event.type.value,
        "api_version": event.api_version,
        "created_at": event.created_at,
        "recorded_at": recorded_at,
        "data": event.data,
    }


def _event(row: Row[Any]) -> ReturnEvent:
    return ReturnEvent(
        id=row.id,
        type=row.type,
        api_version=row.api_version,
        created_at=row.created_at,
        return_id=row.return_id,
        sequence=row.sequence,
        data=row.data,
    )


def _parse_cursor(cursor: str) -> tuple[datetime, int]:
    at, _, position = cursor.rpartition("|")
    return datetime.fromisoformat(at), int(position)
