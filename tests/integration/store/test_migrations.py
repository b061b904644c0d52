"""Migrations: up from an empty database on SQLite and PostgreSQL, and in step with the tables."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from store.db import make_engine
from store.migrate import alembic_config, current_revision, migrate
from store.schema import metadata
from store.store import EventStore

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_up_from_empty_creates_every_table_and_matches_the_schema(store_url):
    assert current_revision(store_url) is None
    migrate(store_url)
    assert current_revision(store_url) == HEAD == "0006"
    engine = make_engine(store_url)
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            assert {table.name for table in metadata.sorted_tables} <= tables
            # what the migrations built is what store.schema declares: no drift either way
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []
            unique = {tuple(u["column_names"]) for u in inspect(connection).get_unique_constraints("events")}
            assert {("id",), ("return_id", "sequence")} <= unique
    finally:
        engine.dispose()


def test_migrating_again_changes_nothing_and_steps_up_one_revision_at_a_time(store_url):
    migrate(store_url, "0001")
    assert current_revision(store_url) == "0001"
    engine = make_engine(store_url)
    try:
        with engine.connect() as connection:
            assert "ix_returns_requested_at" not in {i["name"] for i in inspect(connection).get_indexes("returns")}
    finally:
        engine.dispose()
    migrate(store_url)
    migrate(store_url)
    assert current_revision(store_url) == "0006"


def test_the_command_migrates_an_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'nested' / 'returns.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "store", "migrate", "--url", url], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "store at revision 0006" in result.stdout
    assert current_revision(url) == "0006"


def test_processes_starting_together_all_migrate_the_same_empty_store(store_url):
    """Two workers and two API processes started at once each migrate the store they open: none fails."""
    command = [sys.executable, "-m", "store", "migrate", "--url", store_url]
    starting = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outcomes = [(process.wait(timeout=120), process.stderr.read()) for process in starting]
    for process in starting:
        process.stdout.close()
        process.stderr.close()
    assert [code for code, _ in outcomes] == [0] * 4, [stderr for code, stderr in outcomes if code]
    assert current_revision(store_url) == HEAD


def test_threads_of_one_process_opening_the_store_together_all_migrate_it(store_url):
    """Clients of one process (the benchmark's lanes, an API's first requests) open the store at
    once: Alembic's module globals would trip over each other without the lock."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        opened = list(pool.map(lambda _: EventStore.open(store_url, migrate=True), range(4)))
    for store in opened:
        store.close()
    assert current_revision(store_url) == HEAD
