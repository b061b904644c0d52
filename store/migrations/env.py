"""Alembic environment of the store; run through `store.migrate(url)` (or `python -m store migrate`)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from store.db import make_engine, write_transaction
from store.schema import metadata

# Any fixed number: the PostgreSQL advisory lock every migrator of the store takes first.
_MIGRATION_LOCK = 0x52455455524E53  # "RETURNS"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_alone(url: str) -> None:
    """Processes starting together (two workers, two API processes) all migrate the same store: each
    runs in one transaction that first waits for the others' (SQLite: the write lock taken at BEGIN;
    PostgreSQL: an advisory lock), so the later ones find the schema current and do nothing."""
    engine = make_engine(url)
    try:
        with write_transaction(engine) as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            _run(connection)
    finally:
        engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    _run_alone(context.config.get_main_option("sqlalchemy.url"))
