"""The local stack for the benchmark: LocalStack's dev server, sandboxes, production worker
and HTTP API, plus worker processes the benchmark starts and stops itself, and the CPU and
memory of each process."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.worker import DEFAULT_MAX_CACHED_WORKFLOWS, SandboxMode, WorkerKind
from deploy import Ports as DeployPorts
from deploy import Topology, TopologyConfig
from devstack.stack import LOAD_SERVER_ARGS, ROOT, LocalStack
from integrations.settings import Settings

_STOP_TIMEOUT = 30  # seconds a worker gets to finish its tasks after SIGTERM

# The dev server tuned for load (devstack/stack.py says why); measured as "the engine" otherwise.
TUNED_SERVER_ARGS = LOAD_SERVER_ARGS


@dataclass
class BenchStack(LocalStack):
    ui: bool = False
    log_dir: Path = ROOT / ".run" / "bench"
    server_args: tuple[str, ...] = TUNED_SERVER_ARGS
    workers: dict[str, list[subprocess.Popen]] = field(default_factory=dict)  # by task queue
    webhooks: bool = True  # the receiver subscribed to every event (as `make run`), or no subscriber

    async def start(self) -> None:
        _compiled_imports(self.log_dir / "pycache")
        await super().start()

    def _subscribe_receiver(self) -> str:
        if self.webhooks:
            return super()._subscribe_receiver()
        return "no-subscription"  # the receiver runs, told of nothing

    def spawn_workers(
        self,
        kind: WorkerKind,
        task_queue: str,
        count: int = 1,
        max_cached: int = DEFAULT_MAX_CACHED_WORKFLOWS,
        sandbox: SandboxMode = "shared",
    ) -> list[subprocess.Popen]:
        args = ["-m", "bench.worker", f"--kind={kind}", f"--task-queue={task_queue}"]
        args += [f"--max-cached-workflows={max_cached}", f"--sandbox={sandbox}"]
        processes = [self._spawn(f"worker-{task_queue}-{n}", args) for n in range(count)]
        self.workers.setdefault(task_queue, []).extend(processes)
        return processes

    async def stop_workers(self, task_queue: str) -> None:
        for process in self.workers.pop(task_queue, []):
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, timeout=_STOP_TIMEOUT)

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


@dataclass
class ProductionBenchStack(BenchStack):
    """The benchmark on deploy/'s topology (`--server production`): the Temporal server on PostgreSQL with
    its history shards, the sandboxes, and the benchmark's own worker processes pointed at it, with the
    topology's settings (payloads encrypted, as in production). The topology's own workers and API idle
    on the `returns` queue; every lane has a queue of its own. A new state directory per run."""

    topology: Topology | None = None
    _state_dir: Path | None = None

    async def start(self) -> None:
        _compiled_imports(self.log_dir / "pycache")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._state_dir = Path(tempfile.mkdtemp(prefix="returns-bench-prod-"))
        self._state_dir.chmod(0o755)  # PostgreSQL runs as its own account
        config = TopologyConfig(state_dir=self._state_dir, ports=DeployPorts.free(), ui=False)
        self.topology = Topology(config)
        await self.topology.up()

    async def stop(self) -> None:
        await super().stop()  # the benchmark's workers first, while Temporal is there
        if self.topology is not None:
            await self.topology.down()
            self.topology = None
        if self._state_dir is not None:
            shutil.rmtree(self._state_dir, ignore_errors=True)

    @property
    def settings(self) -> Settings:
        assert self.topology is not None, "not started"
        return self.topology.settings

    def sandbox_url(self, name: str) -> str:
        assert self.topology is not None, "not started"
        return self.topology.sandbox_url(name)

    @property
    def api_url(self) -> str:
        assert self.topology is not None, "not started"
        return self.topology.api_url


def _compiled_imports(cache: Path) -> None:
    """Lets the processes the stack starts cache compiled bytecode (under `cache`, not in the
    tree), as an installed package has it. With PYTHONDONTWRITEBYTECODE and no .pyc, the
    workflow sandbox would compile the workflow's source again for every workflow run."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(cache)


def _role(process: psutil.Process) -> str | None:
    try:
        command = " ".join(process.cmdline())
    except psutil.Error:
        return None
    if "server start-dev" in command or "temporal-server" in command:
        return "server"
    if "sandboxes" in command:
        return "sandboxes"
    return None


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:  # it ended between listing and reading
        return 0.0
    return times.user + times.system
