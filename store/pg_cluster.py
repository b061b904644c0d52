"""A throwaway PostgreSQL cluster in a temporary directory, for tests and the benchmark.

    with throwaway_postgres() as url:        # postgresql+psycopg://postgres@127.0.0.1:PORT/returns_store
        ...

Debian's server binaries (/usr/lib/postgresql/<v>/bin, or PG_BIN) refuse to run as root, so
when we are root the cluster belongs to the `postgres` user and commands run through `su`.
Small and self-contained on purpose: a shared launcher can replace it.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from devstack.ports import free_port

DATABASE = "returns_store"


class PostgresUnavailableError(RuntimeError):
    pass


def server_bin() -> Path | None:
    explicit = os.environ.get("PG_BIN")
    candidates = [explicit] if explicit else sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _run(command: list[str], as_postgres: bool) -> None:
    line = shlex.join(command)
    argv = ["su", "postgres", "-s", "/bin/sh", "-c", line] if as_postgres else ["sh", "-c", line]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if result.returncode:
        raise PostgresUnavailableError(f"{command[0]} failed: {result.stderr.strip() or result.stdout.strip()}")


@contextmanager
def throwaway_postgres(settings: dict[str, str] | None = None, root: str | None = None) -> Iterator[str]:
    """Starts a cluster on a free loopback port, yields the URL of its own database, removes it after."""
    binaries = server_bin()
    if binaries is None:
        raise PostgresUnavailableError("no PostgreSQL server binaries (apt-get install postgresql, or set PG_BIN)")
    as_postgres = os.geteuid() == 0
    workdir = Path(tempfile.mkdtemp(prefix="store-pg-", dir=root))
    data, sockets = workdir / "data", workdir / "sock"
    sockets.mkdir()
    if as_postgres:
        shutil.chown(workdir, "postgres")
        shutil.chown(sockets, "postgres")
    port = free_port()
    options = {"listen_addresses": "127.0.0.1", "port": str(port), "unix_socket_directories": str(sockets)}
    options |= {"fsync": "off", "full_page_writes": "off", **(settings or {})}  # throwaway: durability not needed
    server_options = " ".join(f"-c {name}={value}" for name, value in options.items())
    started = False
    try:
        _run([str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"], as_postgres)
        log_file = workdir / "server.log"
        _run(
            [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log_file), "-o", server_options, "-w", "start"],
            as_postgres,
        )
        started = True
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DATABASE}"
        _create_database(port)
        yield url
    finally:
        if started:
            with suppress(PostgresUnavailableError):
                _run([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], as_postgres)
        shutil.rmtree(workdir, ignore_errors=True)


def _create_database(port: int) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {DATABASE}")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
