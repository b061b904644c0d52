"""Where the topology's programs are: read from the environment or `.tools.production.env`, and
installed by `scripts/setup-production.sh` when missing (cached outside the repo; fast when present)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from deploy.config import ROOT

SETUP_SCRIPT = ROOT / "scripts" / "setup-production.sh"
TOOLS_ENV = ROOT / ".tools.production.env"
DEV_TOOLS_ENV = ROOT / ".tools.env"  # scripts/setup.sh's: the `temporal` CLI, for operators' commands


class ToolUnavailable(RuntimeError):
    """A program the topology needs could not be found nor installed; says which and why."""


@dataclass(frozen=True)
class Tools:
    temporal_server: Path
    sql_tool: Path
    server_files: Path  # schema/postgresql/v12/... and config/ of the same server version
    ui_server: Path | None
    postgres_bin: Path  # initdb, pg_ctl, psql
    redis_server: Path  # the portal's shared lookup limits
    temporal_cli: Path | None

    @classmethod
    def locate(cls, install: bool = True) -> Tools:
        """The tools named by the environment or the env files; runs the setup script first if one is missing."""
        found = _read_environment()
        if install and not _complete(found):
            result = subprocess.run(["bash", str(SETUP_SCRIPT)], capture_output=True, text=True)
            found = _read_environment()
            if not _complete(found):
                raise ToolUnavailable(f"{_missing(found)} could not be installed:\n{result.stderr.strip()}")
        if not _complete(found):
            raise ToolUnavailable(f"{_missing(found)} not installed: run scripts/setup-production.sh")
        return cls(
            temporal_server=Path(found["TEMPORAL_SERVER_PATH"]),
            sql_tool=Path(found["TEMPORAL_SQL_TOOL_PATH"]),
            server_files=Path(found["TEMPORAL_SERVER_FILES"]),
            ui_server=Path(found["TEMPORAL_UI_SERVER_PATH"]) if found.get("TEMPORAL_UI_SERVER_PATH") else None,
            postgres_bin=Path(found["POSTGRES_BIN_DIR"]),
            redis_server=Path(found["REDIS_SERVER_PATH"]),
            temporal_cli=Path(found["TEMPORAL_CLI_PATH"]) if found.get("TEMPORAL_CLI_PATH") else None,
        )


_REQUIRED = {
    "TEMPORAL_SERVER_PATH": "the Temporal server",
    "TEMPORAL_SQL_TOOL_PATH": "temporal-sql-tool",
    "TEMPORAL_SERVER_FILES": "the Temporal server's schemas",
    "POSTGRES_BIN_DIR": "PostgreSQL",
    "REDIS_SERVER_PATH": "Redis",
}

_KNOWN = {*_REQUIRED, "TEMPORAL_UI_SERVER_PATH", "TEMPORAL_CLI_PATH"}


def _read_environment() -> dict[str, str]:
    """The environment wins over the env files (a user may point at their own builds)."""
    found: dict[str, str] = {}
    for env_file in (DEV_TOOLS_ENV, TOOLS_ENV):
        if env_file.exists():
            for line in env_file.read_text().splitlines():
                name, _, value = line.removeprefix("export ").partition("=")
                if value:
                    found[name.strip()] = value.strip()
    found.update({name: os.environ[name] for name in _KNOWN if os.environ.get(name)})
    return {name: value for name, value in found.items() if name in _KNOWN and Path(value).exists()}


def _complete(found: dict[str, str]) -> bool:
    return all(name in found for name in _REQUIRED)


def _missing(found: dict[str, str]) -> str:
    return ", ".join(label for name, label in _REQUIRED.items() if name not in found)
