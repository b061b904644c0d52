"""A PostgreSQL cluster of the topology's own: its data directory, socket and log under the state dir.

PostgreSQL refuses to run as root; under root every command runs as the `postgres` user (which
Debian's package creates) on directories it owns. It listens on 127.0.0.1 only; the superuser
connects through the private socket directory (peer authentication), everyone else over TCP
with a password (scram-sha-256).
"""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import structlog

from deploy.config import HOST

log = structlog.get_logger(__name__)

SERVICE_USER = "postgres"
# Temporal opens up to 20 connections per store and service; the default 100 is too tight for four services.
MAX_CONNECTIONS = 300


class Postgres:
    def __init__(self, bin_dir: Path, directory: Path, port: int, log_file: Path) -> None:
        self.bin_dir = bin_dir
        self.directory = directory
        self.data_dir = directory / "data"
        self.socket_dir = directory / "socket"
        self.port = port
        self.log_file = log_file
        self._owner = SERVICE_USER if os.geteuid() == 0 else getpass.getuser()

    def initialize(self) -> bool:
        """Creates the cluster unless it exists; says whether it did."""
        if (self.data_dir / "PG_VERSION").exists():
            return False
        _check_traversable(self.directory.parent, self._owner)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.touch()
        for path in (self.directory, self.socket_dir, self.log_file):
            shutil.chown(path, self._owner, self._owner)
        self.socket_dir.chmod(0o700)  # only the superuser's OS account reaches the socket
        self._run(
            "initdb",
            f"--pgdata={self.data_dir}",
            f"--username={self._owner}",
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
        )
        log.info("postgres initialized", data_dir=str(self.data_dir))
        return True

    def start(self) -> None:
        if self.is_running():
            return
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses={HOST} -c max_connections={MAX_CONNECTIONS}"
        self._run("pg_ctl", "start", f"--pgdata={self.data_dir}", f"--log={self.log_file}", "--wait", "-o", options)
        log.info("postgres started", port=self.port)

    def stop(self) -> None:
        if not self.is_running():
            return
        self._run("pg_ctl", "stop", f"--pgdata={self.data_dir}", "--mode=fast", "--wait", "--timeout=60")
        log.info("postgres stopped")

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        status = self._run("pg_ctl", "status", f"--pgdata={self.data_dir}", check=False)
        return status.returncode == 0

    def ensure_role(self, name: str, password: str, createdb: bool = True) -> None:
        """A login role with this password; one that may create databases (the SQL tool creates Temporal's)
        unless `createdb` is False."""
        # The statement travels on stdin, so the password never shows in a process list.
        may_create = "CREATEDB" if createdb else "NOCREATEDB"
        self._psql(f"""
            SELECT 'CREATE ROLE {name}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}')\\gexec
            ALTER ROLE {name} LOGIN {may_create} PASSWORD '{password}';
        """)

    def ensure_database(self, name: str, owner: str) -> None:
        """A database owned by `owner` (its tables are the owner's to create), unless it exists."""
        self._psql(f"""
            SELECT 'CREATE DATABASE {name} OWNER {owner}'
                WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{name}')\\gexec
            REVOKE ALL ON DATABASE {name} FROM PUBLIC;
        """)

    def _psql(self, sql: str) -> None:
        connection = [
            f"--host={self.socket_dir}",
            f"--port={self.port}",
            f"--username={self._owner}",
            "--dbname=postgres",
        ]
        self._run("psql", "--quiet", "--no-psqlrc", "--set=ON_ERROR_STOP=1", *connection, stdin=sql)

    def _run(
        self, program: str, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess:
        as_service_user = {"user": SERVICE_USER, "group": SERVICE_USER, "extra_groups": []} if os.geteuid() == 0 else {}
        result = subprocess.run(
            [str(self.bin_dir / program), *args],
            cwd=self.directory,
            input=stdin,
            capture_output=True,
            text=True,
            **as_service_user,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{program} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
            )
        return result


def _check_traversable(directory: Path, user: str) -> None:
    """PostgreSQL's account must reach its directory: every parent needs the search bit for it."""
    if os.geteuid() != 0:
        return
    uid = pwd.getpwnam(user).pw_uid
    for parent in [directory, *directory.parents]:
        if parent.exists():
            info = parent.stat()
            reachable = info.st_mode & 0o001 or (info.st_uid == uid and info.st_mode & 0o100)
            if not reachable:
                raise RuntimeError(
                    f"{parent} is not reachable by the {user} account (mode {oct(info.st_mode & 0o777)}): "
                    "choose a state directory under a path others may traverse"
                )
