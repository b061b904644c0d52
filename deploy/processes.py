"""Named long-running processes: started detached, remembered in pid files, stopped by their own pid.

A pid file records the pid and the process's start time (from /proc), so a pid the kernel has
since handed to another program is never signalled. Each process writes to `<logs>/<name>.log`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: Sequence[str]
    cwd: Path
    env: Mapping[str, str]


def base_environment() -> dict[str, str]:
    """What every process of the topology inherits from the shell that started it: nothing more, so no
    credential, vendor key or PYTHONPATH of that shell reaches it; each adds its own settings."""
    return {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR") if name in os.environ}


class Supervisor:
    def __init__(self, state_dir: Path) -> None:
        self.pid_dir = state_dir / "pids"
        self.log_dir = state_dir / "logs"
        self._children: dict[str, subprocess.Popen] = {}  # started by this process: reaped here

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(self, spec: ProcessSpec) -> int:
        if (pid := self.pid(spec.name)) is not None:
            raise RuntimeError(f"{spec.name} is already running (pid {pid})")
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file(spec.name).open("ab") as log_file:
            process = subprocess.Popen(
                list(spec.argv),
                cwd=spec.cwd,
                env=dict(spec.env),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives `python -m deploy up`; a Ctrl-C in its terminal doesn't reach it
            )
        self._children[spec.name] = process
        record = {"pid": process.pid, "start_time": _start_time(process.pid), "argv": list(spec.argv)}
        self._pid_file(spec.name).write_text(json.dumps(record) + "\n")
        log.info("process started", process=spec.name, pid=process.pid)
        return process.pid

    def pid(self, name: str) -> int | None:
        """The pid of `name` if it is running (and is still the process that was started)."""
        if (child := self._children.get(name)) is not None and child.poll() is not None:
            return None
        try:
            record = json.loads(self._pid_file(name).read_text())
        except (FileNotFoundError, ValueError):
            return None
        pid = record["pid"]
        return pid if _start_time(pid) == record["start_time"] and not _is_zombie(pid) else None

    def running(self) -> dict[str, int]:
        names = sorted(path.stem for path in self.pid_dir.glob("*.pid")) if self.pid_dir.exists() else []
        return {name: pid for name in names if (pid := self.pid(name)) is not None}

    def stop(self, name: str, timeout: float = 30, sig: int = signal.SIGTERM) -> None:
        """Asks `name` to stop (SIGTERM: the app's graceful path), kills it after `timeout`."""
        pid = self.pid(name)
        if pid is not None:
            os.kill(pid, sig)
            if not self._wait_gone(name, pid, timeout):
                log.warning("process did not stop in time: killing it", process=name, pid=pid, timeout=timeout)
                os.kill(pid, signal.SIGKILL)
                self._wait_gone(name, pid, 10)
            log.info("process stopped", process=name, pid=pid, signal=signal.Signals(sig).name)
        self._pid_file(name).unlink(missing_ok=True)
        self._children.pop(name, None)

    def kill(self, name: str) -> None:
        """SIGKILL: as if its machine died. Nothing of it gets a chance to clean up."""
        self.stop(name, timeout=10, sig=signal.SIGKILL)

    def _wait_gone(self, name: str, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        child = self._children.get(name)
        while time.monotonic() < deadline:
            if child is not None:
                if child.poll() is not None:
                    return True
            elif _start_time(pid) is None or _is_zombie(pid):
                return True
            time.sleep(0.05)
        return False

    def _pid_file(self, name: str) -> Path:
        return self.pid_dir / f"{name}.pid"


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()  # the command name in parentheses may hold spaces


def _start_time(pid: int) -> str | None:
    stat = _stat_fields(pid)
    return stat[19] if stat else None  # field 22 of proc(5): start time in clock ticks since boot


def _is_zombie(pid: int) -> bool:
    stat = _stat_fields(pid)
    return bool(stat) and stat[0] == "Z"
