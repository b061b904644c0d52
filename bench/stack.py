"""The local stack for the benchmark: LocalStack's dev server and sandboxes, with worker
processes the benchmark starts and stops itself, and the CPU and memory of each process."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.worker import DEFAULT_MAX_CACHED_WORKFLOWS, WorkerKind
from starter.local_stack import ROOT, LocalStack

_STOP_TIMEOUT = 30  # seconds a worker gets to finish its tasks after SIGTERM


@dataclass
class BenchStack(LocalStack):
    ui: bool = False
    log_dir: Path = ROOT / ".run" / "bench"
    workers: dict[str, list[subprocess.Popen]] = field(default_factory=dict)  # by task queue

    def start_worker(self) -> subprocess.Popen | None:  # type: ignore[override]
        """LocalStack.start() starts the production worker here; the benchmark starts its
        own, per task queue, with the options each measurement needs."""
        return None

    def spawn_workers(
        self, kind: WorkerKind, task_queue: str, count: int = 1, max_cached: int = DEFAULT_MAX_CACHED_WORKFLOWS
    ) -> list[subprocess.Popen]:
        args = ["-m", "bench.worker", f"--kind={kind}", f"--task-queue={task_queue}", f"--max-cached-workflows={max_cached}"]
        processes = [self._spawn(f"worker-{task_queue}-{n}", args) for n in range(count)]
        self.workers.setdefault(task_queue, []).extend(processes)
        return processes

    def stop_workers(self, task_queue: str) -> None:
        for process in self.workers.pop(task_queue, []):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=_STOP_TIMEOUT)

    def rss_bytes(self, task_queue: str) -> int:
        return sum(psutil.Process(p.pid).memory_info().rss for p in self.workers[task_queue])

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) used so far by each process of the stack, by role."""
        roles: dict[str, list[psutil.Process]] = {"driver": [psutil.Process(os.getpid())]}
        for child in psutil.Process(os.getpid()).children(recursive=True):
            role = _role(child)
            if role is not None:
                roles.setdefault(role, []).append(child)
        for task_queue, processes in self.workers.items():
            roles[f"worker {task_queue}"] = [psutil.Process(p.pid) for p in processes if p.poll() is None]
        return {role: sum(_cpu(p) for p in processes) for role, processes in roles.items()}


def _role(process: psutil.Process) -> str | None:
    try:
        command = " ".join(process.cmdline())
    except psutil.Error:
        return None
    if "server start-dev" in command:
        return "server"
    if "integrations.sandboxes" in command:
        return "sandboxes"
    return None


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:  # it ended between listing and reading
        return 0.0
    return times.user + times.system
