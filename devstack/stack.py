"""The whole system on one machine, as processes: Temporal dev server, sandboxes, worker, HTTP API.

`make run` (devstack/__main__.py) starts it with a demo return; the end-to-end and API tests
and the benchmark start the same stack on free ports.

API keys and webhook secrets are fixed, well-known values for this local stack only
(`LOCAL_KEYS`, `LOCAL_SECRETS`), so the printed curl commands can be pasted as they are.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from api.auth import key_hash
from devstack.ports import free_ports
from integrations.settings import SANDBOX_HOST, ApiKeyGrant, Settings
from integrations.temporal_client import register_search_attributes
from starter.client import ReturnsClient
from store.store import EventStore
from store.webhooks import Subscriptions
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parent.parent
# The SDK waits 5 s for the dev server; a busy 2-core machine (CI, a benchmark running) needs more.
_SERVER_STARTUP_TIMEOUT = timedelta(seconds=60)
# The local stack's API keys and whose they are: the shop's backend and the warehouse system
# (systems: they may name whom they act for), two operators and a warehouse inspector (people),
# and two shops' storefronts for the multi-shop case (each sees only its own returns).
LOCAL_KEYS = {
    "local-storefront-key": ApiKeyGrant(role="storefront", holder="shop-web", system=True),
    "local-warehouse-key": ApiKeyGrant(role="warehouse", holder="wms-1", system=True),
    "local-operator-key": ApiKeyGrant(role="operator", holder="kim"),
    "local-operator-lee-key": ApiKeyGrant(role="operator", holder="lee"),
    "local-inspector-key": ApiKeyGrant(role="warehouse", holder="dock-3"),
    "local-acme-storefront-key": ApiKeyGrant(role="storefront", holder="acme-web", system=True, shop="acme"),
    "local-globex-storefront-key": ApiKeyGrant(role="storefront", holder="globex-web", system=True, shop="globex"),
}
# The dev server's defaults suit tests, not load. Its one history shard reads its transfer
# queue at most 20 times a second, so every workflow and activity task waits ~40 ms for
# dispatch however idle the machine is; and four task-queue partitions make a handful of
# pollers chase tasks across partitions. The benchmark and the chaos run start it with these.
LOAD_SERVER_ARGS = (
    "--dynamic-config-value",
    "history.transferProcessorMaxPollRPS=1000",
    "--dynamic-config-value",
    "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value",
    "matching.numTaskqueueWritePartitions=1",
)
LOCAL_SECRETS = {
    **{f"api_key:{grant.holder}": key for key, grant in LOCAL_KEYS.items()},
    "stripe_webhook_secret": "whsec_local_stack",
    "shippo_webhook_token": "local-shippo-token",
    "shippo_webhook_hmac_secret": "local-shippo-hmac",
    "portal_secret": "local-portal-secret",
    "console_secret": "local-console-secret",
}
_WEBHOOK_SECRETS = (
    "stripe_webhook_secret",
    "shippo_webhook_token",
    "shippo_webhook_hmac_secret",
    "portal_secret",
    "console_secret",
)


@dataclass
class Ports:
    temporal: int = 7233
    ui: int = 8233
    stripe: int = 12111
    shippo: int = 12112
    shop: int = 12113
    api: int = 8000
    smtp: int = 1025  # the SMTP sink: the shopper's email lands in <log_dir>/mail
    receiver: int = 12114  # devstack/receiver.py: subscribed to every return event

    @classmethod
    def free(cls) -> Ports:
        return cls(*free_ports(len(fields(cls))))


@dataclass
class LocalStack:
    ports: Ports = field(default_factory=Ports)
    db_file: Path | None = None  # None: Temporal keeps its state in memory
    ui: bool = True
    api: bool = True  # the HTTP API process (off: a stack driven only through ReturnsClient)
    log_dir: Path = ROOT / ".run"
    server_args: tuple[str, ...] = ()  # extra `temporal server start-dev` options (the benchmark tunes it)
    worker: bool = True  # a worker process at start (off: a test starts it later, with start_worker)
    overrides: dict[str, Any] = field(default_factory=dict)  # settings of every process (and clients)
    server_log_level: str = "warn"  # what the dev server prints to this process's output
    _env: WorkflowEnvironment | None = None
    _processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        """Settings that point every process of the stack at its peers."""
        own: dict[str, Any] = dict(
            temporal_address=f"127.0.0.1:{self.ports.temporal}",
            vendor_mode="sandbox",
            workflow_sandbox_strict=True,  # our workflow code under all of the sandbox's checks
            stripe_api_base=self.sandbox_url("stripe"),
            shippo_api_base=self.sandbox_url("shippo"),
            shop_api_base=self.sandbox_url("shop"),
            api_host=SANDBOX_HOST,
            api_port=self.ports.api,
            api_keys={key_hash(key): grant for key, grant in LOCAL_KEYS.items()},
            live_mode=False,
            smtp_host=SANDBOX_HOST,
            smtp_port=self.ports.smtp,
            smtp_tls="none",
            portal_base_url=self.api_url,
            portal_photo_dir=str(self.log_dir / "photos"),
            event_store_url=f"sqlite:///{self.store_file}",
            webhook_allow_private_urls=True,  # the receiver is on loopback
            **{name: SecretStr(LOCAL_SECRETS[name]) for name in _WEBHOOK_SECRETS},
        )
        return Settings(**(own | self.overrides))

    @property
    def mail_dir(self) -> Path:
        """Where the SMTP sink keeps what the stack sent (sandboxes/smtp_sink.py: read_mail)."""
        return self.log_dir / "mail"

    @property
    def store_file(self) -> Path:
        """The stack's own event store, beside its logs."""
        return self.log_dir / "returns.db"

    def sandbox_url(self, name: str) -> str:
        return f"http://{SANDBOX_HOST}:{getattr(self.ports, name)}"

    @property
    def receiver_url(self) -> str:
        return f"http://{SANDBOX_HOST}:{self.ports.receiver}"

    @property
    def api_url(self) -> str:
        return f"http://{SANDBOX_HOST}:{self.ports.api}"

    async def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.db_file is None:  # Temporal starts empty: so does the record of its returns
            for path in self.log_dir.glob(f"{self.store_file.name}*"):  # with SQLite's -wal and -shm
                path.unlink()
        self._spawn(
            "sandboxes",
            [
                "-m",
                "sandboxes",
                f"--stripe-port={self.ports.stripe}",
                f"--shippo-port={self.ports.shippo}",
                f"--shop-port={self.ports.shop}",
                f"--smtp-port={self.ports.smtp}",
                f"--mail-dir={self.mail_dir}",
            ],
        )
        secret = await asyncio.to_thread(self._subscribe_receiver)
        self._spawn(
            "receiver", ["-m", "devstack.receiver", f"--port={self.ports.receiver}"], {"RECEIVER_SECRET": secret}
        )
        await self._start_temporal()
        await self._wait_for_ports(("stripe", "shippo", "shop", "smtp"), log_name="sandboxes")
        await self._wait_for_ports(("receiver",), log_name="receiver")
        if self.worker:
            self.start_worker()
        if self.api:
            await self.start_api()

    async def _start_temporal(self) -> None:
        self._env = await WorkflowEnvironment.start_local(
            port=self.ports.temporal,
            ui=self.ui,
            ui_port=self.ports.ui if self.ui else None,
            search_attributes=SEARCH_ATTRIBUTES,
            # Built by scripts/setup.sh; without it the SDK downloads the CLI (needs internet).
            dev_server_existing_path=os.environ.get("TEMPORAL_CLI_PATH") or None,
            dev_server_database_filename=str(self.db_file) if self.db_file else None,
            dev_server_extra_args=list(self.server_args),
            dev_server_log_level=self.server_log_level,
            dev_server_startup_timeout=_SERVER_STARTUP_TIMEOUT,
        )
        await register_search_attributes(self._env.client)  # a state file from an older version lacks new ones

    async def restart_temporal(self) -> None:
        """Kills the dev server, as a crash would, and starts it again on the same database file;
        returns once it serves. Workers and API processes reconnect by themselves."""
        if self.db_file is None:
            raise RuntimeError("a dev server without db_file keeps its state in memory: a restart would lose it")
        if self._env is not None:
            await self._env.shutdown()
            self._env = None
        await self._start_temporal()

    def _subscribe_receiver(self) -> str:
        """The stack's store, migrated, with one subscription to every event: the receiver's
        (replacing one a previous run left). Answers its signing secret."""
        store = EventStore.open(self.settings.event_store_url.get_secret_value(), migrate=True)
        try:
            subscriptions = Subscriptions(store.engine)
            for earlier in subscriptions.list():
                if earlier.url.startswith(self.receiver_url):
                    subscriptions.delete(earlier.id)
            created = subscriptions.create(f"{self.receiver_url}/events", [], "the local stack's receiver")
            return created.secret
        finally:
            store.close()

    def start_worker(self, **environment: str) -> subprocess.Popen:
        """A worker process; `environment` adds settings of its own (e.g. WORKER_HEALTH_PORT)."""
        return self._spawn("worker", ["-m", "workers.main"], environment)

    def spawn_api(self, name: str = "api", **environment: str) -> subprocess.Popen:
        """An API process, not waited for (another one: give it its own name and API_PORT); stopped with the stack."""
        return self._spawn(name, ["-m", "api.app"], environment)

    def running(self, name: str) -> list[subprocess.Popen]:
        """The stack's live processes of one kind ("worker", "api", "sandboxes"), oldest first."""
        return [process for each, process in self._processes if each == name and process.poll() is None]

    def kill(self, process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        """Stops one process of the stack (SIGKILL: as if its machine died) and forgets it."""
        if process.poll() is None:
            process.send_signal(sig)
            process.wait(timeout=30)
        self._processes = [(name, p) for name, p in self._processes if p.poll() is None]

    def kill_workers(self, sig: int = signal.SIGKILL) -> None:
        """Stops every worker process of the stack (SIGKILL: as if the machine died)."""
        for process in self.running("worker"):
            self.kill(process, sig)

    async def start_api(self) -> subprocess.Popen:
        """Starts the HTTP API process; returns once it listens (it listens once connected to Temporal)."""
        process = self.spawn_api()
        await self._wait_for_ports(("api",), log_name="api", process=process)
        return process

    def kill_api(self, sig: int = signal.SIGKILL) -> None:
        for process in self.running("api"):
            self.kill(process, sig)

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

    def _spawn(self, name: str, args: list[str], environment: dict[str, str] | None = None) -> subprocess.Popen:
        env = {**os.environ, **_environment(self.settings), **(environment or {}), "PYTHONUNBUFFERED": "1"}
        log_file = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log_file, stderr=log_file)
        self._processes.append((name, process))
        return process

    async def _wait_for_ports(
        self, names: tuple[str, ...], log_name: str, timeout: float = 30, process: subprocess.Popen | None = None
    ) -> None:
        """Returns once each port listens. `process`: the one meant to listen, whose exit ends the wait
        (a port some other process holds would otherwise look like it)."""
        deadline = asyncio.get_running_loop().time() + timeout
        for name in names:
            while True:
                if process is not None and process.poll() is not None:
                    raise RuntimeError(
                        f"{log_name} exited with {process.returncode}; see {self.log_dir}/{log_name}.log"
                    )
                try:
                    _, writer = await asyncio.open_connection(SANDBOX_HOST, getattr(self.ports, name))
                    writer.close()
                    break
                except OSError as error:
                    if asyncio.get_running_loop().time() > deadline:
                        raise RuntimeError(f"{name} did not start; see {self.log_dir}/{log_name}.log") from error
                    await asyncio.sleep(0.1)


def _environment(settings: Settings) -> dict[str, str]:
    """The settings as the environment variables every process of the stack reads them from."""
    environment = {}
    for name, value in settings.model_dump().items():
        if value is not None:
            revealed = value.get_secret_value() if isinstance(value, SecretStr) else value
            # Structured settings (API_KEYS) travel as JSON, as pydantic-settings reads them.
            structured = isinstance(revealed, dict | list)
            environment[name.upper()] = json.dumps(revealed) if structured else str(revealed)
    return environment
