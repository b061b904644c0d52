"""Migrations, run from the installed package (no alembic.ini needed).

python -m store migrate [--url URL]          # upgrade to the newest revision
store.migrate(url)                            # the same, from code
"""

from __future__ import annotations

import threading

from alembic import command
from alembic.config import Config

from store.db import normalise_url, store_url


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "store:migrations")
    # ConfigParser interpolation would read a '%' in a password as a placeholder.
    config.set_main_option("sqlalchemy.url", normalise_url(url or store_url()).replace("%", "%%"))
    return config


# Alembic keeps the running migration in module globals (alembic.context, alembic.op): two threads
# migrating at once (two clients of one process opening their stores) would trip over each other.
# Other processes are kept apart by the database (migrations/env.py).
_ONE_AT_A_TIME = threading.Lock()


def migrate(url: str | None = None, revision: str = "head") -> None:
    """Brings the store's schema to `revision` (default: the newest). Safe to run again, from any
    number of threads and processes at once."""
    with _ONE_AT_A_TIME:
        command.upgrade(alembic_config(url), revision)


def current_revision(url: str | None = None) -> str | None:
    from sqlalchemy import inspect, text

    from store.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
