"""The whole system on one machine: Temporal dev server, sandboxes, worker (and a demo).

    make run        # = python -m starter.local_stack

Starts the official Temporal CLI dev server (SQLite file under .run/, Web UI on), the
Stripe, Shippo and shop-platform sandboxes, and a worker process; walks one demo return
through every step; then keeps everything up until Ctrl-C. The end-to-end tests start
the same stack on free ports.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from integrations.log_config import configure_logging
from integrations.sandboxes.server import free_port
from integrations.settings import SANDBOX_HOST, Settings
from starter.client import ReturnsClient
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Ports:
    temporal: int = 7233
    ui: int = 8233
    stripe: int = 12111
    shippo: int = 12112
    shop: int = 12113

    @classmethod
    def free(cls) -> Ports:
        return cls(*(free_port() for _ in range(5)))


@dataclass
class LocalStack:
    ports: Ports = field(default_factory=Ports)
    db_file: Path | None = None  # None: Temporal keeps its state in memory
    ui: bool = True
    log_dir: Path = ROOT / ".run"
    _env: WorkflowEnvironment | None = None
    _processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        """Settings that point every process of the stack at its peers."""
        return Settings(
            temporal_address=f"127.0.0.1:{self.ports.temporal}",
            stripe_api_base=f"http://{SANDBOX_HOST}:{self.ports.stripe}",
            shippo_api_base=f"http://{SANDBOX_HOST}:{self.ports.shippo}",
            shop_api_base=f"http://{SANDBOX_HOST}:{self.ports.shop}",
        )

    def sandbox_url(self, name: str) -> str:
        return f"http://{SANDBOX_HOST}:{getattr(self.ports, name)}"

    async def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._spawn(
            "sandboxes",
            [
                "-m",
                "integrations.sandboxes",
                f"--stripe-port={self.ports.stripe}",
                f"--shippo-port={self.ports.shippo}",
                f"--shop-port={self.ports.shop}",
            ],
        )
        self._env = await WorkflowEnvironment.start_local(
            port=self.ports.temporal,
            ui=self.ui,
            ui_port=self.ports.ui if self.ui else None,
            search_attributes=SEARCH_ATTRIBUTES,
            # Built by scripts/setup.sh; without it the SDK downloads the CLI (needs internet).
            dev_server_existing_path=os.environ.get("TEMPORAL_CLI_PATH") or None,
            dev_server_database_filename=str(self.db_file) if self.db_file else None,
        )
        await self._wait_for_sandboxes()
        self.start_worker()

    def start_worker(self) -> subprocess.Popen:
        return self._spawn("worker", ["-m", "workers.main"])

    def kill_workers(self, sig: int = signal.SIGKILL) -> None:
        """Stops every worker process of the stack (SIGKILL: as if the machine died)."""
        for name, process in self._processes:
            if name == "worker" and process.poll() is None:
                process.send_signal(sig)
                process.wait(timeout=30)
        self._processes = [(name, p) for name, p in self._processes if p.poll() is None]

    async def client(self) -> ReturnsClient:
        return await ReturnsClient.connect(self.settings)

    async def stop(self) -> None:
        for _, process in reversed(self._processes):
            process.send_signal(signal.SIGTERM)
        for _, process in self._processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        self._processes.clear()
        if self._env is not None:
            await self._env.shutdown()
            self._env = None

    async def __aenter__(self) -> LocalStack:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        settings = self.settings
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": settings.temporal_address,
            "STRIPE_API_BASE": settings.stripe_base or "",
            "SHIPPO_API_BASE": settings.shippo_base or "",
            "SHOP_API_BASE": settings.shop_api_base,
            "PYTHONUNBUFFERED": "1",
        }
        log_file = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log_file, stderr=log_file)
        self._processes.append((name, process))
        return process

    async def _wait_for_sandboxes(self, timeout: float = 20) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        for name in ("stripe", "shippo", "shop"):
            while True:
                try:
                    _, writer = await asyncio.open_connection(SANDBOX_HOST, getattr(self.ports, name))
                    writer.close()
                    break
                except OSError:
                    if asyncio.get_running_loop().time() > deadline:
                        raise RuntimeError(f"the {name} sandbox did not start; see {self.log_dir}/sandboxes.log")
                    await asyncio.sleep(0.1)


async def _run(args: argparse.Namespace) -> None:
    from starter.demo import print_outcome, run_demo

    stack = LocalStack(db_file=ROOT / ".run" / "temporal.db")
    print(f"starting Temporal dev server, sandboxes and worker (logs in {stack.log_dir}) ...", flush=True)
    async with stack:
        client = await stack.client()
        status = await run_demo(client)
        print_outcome(status)
        print(f"\nTemporal Web UI: http://127.0.0.1:{stack.ports.ui}/namespaces/default/workflows")
        print(
            f"Find it again:   temporal workflow list --address 127.0.0.1:{stack.ports.temporal}"
            f" -q \"ReturnStage = 'completed'\""
        )
        if args.exit_after_demo:
            return
        print("Everything keeps running; press Ctrl-C to stop it all.", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        print("\nstopping ...", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exit-after-demo", action="store_true", help="stop everything once the demo is done")
    configure_logging("WARNING")
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
