"""Stores for the store's tests: a fresh SQLite file, and a fresh database on a real
PostgreSQL server that one throwaway cluster serves for the whole session."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from store.migrate import migrate
from store.pg_cluster import PostgresUnavailableError, server_bin, throwaway_postgres
from store.store import EventStore

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    if server_bin() is None:
        pytest.skip("PostgreSQL server binaries not installed (scripts/setup.sh installs them with apt as root)")
    try:
        with throwaway_postgres() as url:
            yield url
    except PostgresUnavailableError as error:
        pytest.skip(f"PostgreSQL could not start here: {error}")


def fresh_postgres_database(server_url: str) -> str:
    url = make_url(server_url)
    name = f"store_test_{next(_databases)}"
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname="postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'returns.db'}"
    return fresh_postgres_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    migrate(store_url)
    opened = EventStore.open(store_url)
    yield opened
    opened.close()
