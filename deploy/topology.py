"""The production topology on one machine, brought up and down as a whole, or one process at a time.

    async with Topology(TopologyConfig(ports=Ports.free(), state_dir=...)) as topology:
        await run_demo(topology.settings, topology.api_url)
        await topology.kill_worker(0); await topology.start_worker(0)
        await topology.restart_temporal()

Layout of the state directory (default `.run/prod/`):

    topology.json   the config it was brought up with     secrets.json  generated passwords and keys (0600)
    api_keys.json   people's API keys, hashed (0600)
    postgres/       data directory and socket             temporal/     rendered server config
    tls/            CA and certificates (mTLS)            ui/           rendered Web UI config
    app/            the wheel, the return policy, and the working directory of the app's processes
    logs/<name>.log one per process                       pids/<name>.pid
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import structlog
from pydantic import SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from temporalio.client import Client

from api.auth import KeyFile
from deploy import app
from deploy.config import HOST, ROOT, TopologyConfig
from deploy.postgres import Postgres
from deploy.processes import ProcessSpec, Supervisor, base_environment
from deploy.temporal import TemporalServer, configure_namespace, migrate_databases
from deploy.tls import TLSFiles, ensure_certificates
from deploy.tools import Tools
from deploy.ui import ui_process
from integrations.payload_codec import new_key
from integrations.settings import Settings
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

log = structlog.get_logger(__name__)

_SECRET_NAMES = (
    "postgres_password",
    "store_password",
    "api_key_storefront",
    "api_key_warehouse",
    "api_key_operator",
    "stripe_webhook_secret",
    "shippo_webhook_token",
    "shippo_webhook_hmac_secret",
    "redis_password",
    "payload_keys",
    "codec_auth_token",
    "portal_secret",  # every API process signs the portal's and the console's cookies and links alike:
    "console_secret",  # behind the balancer, a session started on one is read by the other
)
_TOPOLOGY_ONLY = ("postgres_password", "store_password", "redis_password")  # the topology's to use, not settings
STORE_DATABASE = "returns_store"  # the event store (store/), beside Temporal's databases
STORE_ROLE = "returns"  # the app's own login: it can reach its store, not Temporal's databases
PAYLOAD_KEY_ID = "prod1"  # the first payload key; rotate by listing a new one first (docs/deployment.md)


class _ExplicitSettings(Settings):
    """Settings from what the topology decides and the defaults only: nothing of the launching shell's
    environment or `.env` (a vendor key there must not reach the sandboxes' app)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclass(frozen=True)
class Status:
    processes: dict[str, int | None]  # name -> pid, None when not running
    postgres: bool

    @property
    def all_running(self) -> bool:
        return self.postgres and all(pid is not None for pid in self.processes.values())


class Topology:
    def __init__(self, config: TopologyConfig | None = None, tools: Tools | None = None) -> None:
        self.config = config or TopologyConfig()
        self._tools = tools
        self.supervisor = Supervisor(self.config.state_dir)
        self.app_dir = self.config.state_dir / "app"
        self.venv: Path | None = None

    @classmethod
    def from_state(cls, state_dir: Path) -> Topology:
        """The topology a previous `up` left in `state_dir` (for `down` and `status` from another process)."""
        return cls(TopologyConfig.load(state_dir))

    # --- what clients need ------------------------------------------------------------------

    @property
    def tools(self) -> Tools:
        if self._tools is None:
            self._tools = Tools.locate()
        return self._tools

    @property
    def temporal_address(self) -> str:
        return f"{HOST}:{self.config.ports.temporal_frontend}"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.config.ports.api}"

    @property
    def metrics_url(self) -> str:
        """The Temporal server's Prometheus endpoint."""
        return f"http://{HOST}:{self.config.ports.temporal_metrics}/metrics"

    @property
    def ui_url(self) -> str:
        return f"http://{HOST}:{self.config.ports.ui}"

    @property
    def people_keys(self) -> KeyFile:
        """The API keys of people (and systems) given one with `python -m deploy key add`: every API
        process reads the file again when it changes."""
        return KeyFile(self.config.state_dir / "api_keys.json")

    def sandbox_url(self, vendor: str) -> str:
        return f"http://{HOST}:{getattr(self.config.ports, vendor)}"

    @property
    def tls(self) -> TLSFiles | None:
        if not self.config.mtls:
            return None
        return ensure_certificates(self.config.state_dir / "tls", self.config.tls_server_name)

    @property
    def settings(self) -> Settings:
        """The settings every app process runs with; a client given them talks to this topology as the app."""
        return _ExplicitSettings(**self.decided_settings())

    def decided_settings(self) -> dict[str, object]:
        """What this topology decides for the app, by setting name (docker-compose.yml decides the same
        names: tests/unit/test_docker_compose.py holds them together). Per-process ports come on top."""
        keys = self._secrets()
        tls = self.tls
        app_pair = tls.client("returns-app") if tls else None
        return {
            "temporal_address": self.temporal_address,
            "temporal_namespace": self.config.namespace,
            "temporal_tls_cert": str(app_pair.cert) if app_pair else None,
            "temporal_tls_key": str(app_pair.key) if app_pair else None,
            "temporal_tls_ca": str(tls.ca) if tls else None,
            "temporal_tls_server_name": tls.server_name if tls else None,
            "vendor_mode": "sandbox",  # the sandboxes stand in for Stripe and Shippo here
            "sandbox_host": HOST,
            "stripe_api_base": self.sandbox_url("stripe"),
            "shippo_api_base": self.sandbox_url("shippo"),
            "shop_api_base": self.sandbox_url("shop"),
            "api_host": HOST,
            "api_port": self.config.ports.api,
            "codec_cors_origins": self.ui_url,
            "portal_base_url": self.api_url,  # the status links in shoppers' emails
            "worker_graceful_shutdown_seconds": self.config.graceful_shutdown.total_seconds(),
            "health_host": HOST,
            "metrics_host": HOST,
            "log_format": "json",
            "api_keys_file": str(self.people_keys.path),
            # One count of a shopper's lookups for both API processes, not one each.
            "portal_rate_limit_storage": SecretStr(
                f"redis://:{keys['redis_password']}@{HOST}:{self.config.ports.redis}/0"
            ),
            "event_store_url": SecretStr(
                f"postgresql://{STORE_ROLE}:{keys['store_password']}@{HOST}:{self.config.ports.postgres}/{STORE_DATABASE}"
            ),
            **{name: SecretStr(keys[name]) for name in _SECRET_NAMES if name not in _TOPOLOGY_ONLY},
        }

    async def temporal_client(self) -> Client:
        """A client of the frontend with the app's identity (its certificate under mTLS)."""
        return await self._server().connect()

    # --- the whole topology -------------------------------------------------------------------

    async def up(self) -> None:
        """Brings up whatever is not running yet; what runs is left alone (so `up` after a crash repairs)."""
        started = asyncio.get_running_loop().time()
        self._prepare_state_dir()
        tools = self.tools
        # The wheel and its environment take a while and need nothing else: made while the servers start.
        app_ready = asyncio.create_task(asyncio.to_thread(self._install_app))
        try:
            postgres = self._postgres()
            await asyncio.to_thread(postgres.initialize)
            await asyncio.to_thread(postgres.start)
            password = self._secrets()["postgres_password"]
            await asyncio.to_thread(postgres.ensure_role, "temporal", password)
            await asyncio.to_thread(migrate_databases, tools, self.config.ports.postgres, password)
            await asyncio.to_thread(postgres.ensure_role, STORE_ROLE, self._secrets()["store_password"], createdb=False)
            await asyncio.to_thread(postgres.ensure_database, STORE_DATABASE, STORE_ROLE)
            server = self._server()
            server.write_config()
            self._start_if_stopped(server.process())
            client = await server.wait_until_serving(alive=lambda: self.pid("temporal-server") is not None)
            await configure_namespace(client, self.config.namespace, self.config.retention, SEARCH_ATTRIBUTES)
            if self.config.ui and tools.ui_server is not None:
                self._start_if_stopped(ui_process(tools.ui_server, self.config, self.tls))
            self._start_if_stopped(self._sandboxes_process())
            self._start_if_stopped(self._redis_process())
            for vendor in ("stripe", "shippo", "shop"):
                await self._wait_listening("sandboxes", getattr(self.config.ports, vendor))
            await self._wait_listening("redis", self.config.ports.redis)
        except BaseException:
            with contextlib.suppress(Exception):  # never leave the thread behind; the first error is the story
                await app_ready
            raise
        self.venv = await app_ready
        await self._migrate_store()  # the release step: once, before any app process opens the store
        for index in range(self.config.workers):
            self._start_if_stopped(self._worker_process(index))
        for index in range(len(self.config.ports.api_processes)):
            self._start_if_stopped(self._api_process(index))
        for index, port in enumerate(self.config.ports.api_processes):
            await self._wait_listening(f"api-{index}", port)  # it listens once connected to Temporal
        self._start_if_stopped(self._balancer_process())
        await self._wait_for_http(f"{self.api_url}/v1/readyz", ready=True)  # Temporal answers, workers poll
        if self.config.ui and tools.ui_server is not None:
            await self._wait_for_http(self.ui_url)
        self._check_all_running()
        log.info("topology up", seconds=round(asyncio.get_running_loop().time() - started, 1), api=self.api_url)

    async def down(self) -> None:
        """Stops every process (the app's first, so they finish their work while Temporal is still there)."""
        running = self.supervisor.running()
        app_processes = sorted(name for name in running if name.startswith(("api-", "worker-")))
        order = ["balancer", *app_processes, "temporal-ui", "sandboxes", "redis", "temporal-server"]
        for name in order + sorted(set(running) - set(order)):
            await asyncio.to_thread(self.supervisor.stop, name)
        await asyncio.to_thread(self._postgres().stop)
        log.info("topology down", state_dir=str(self.config.state_dir))

    def process_names(self) -> list[str]:
        """Every long-running process of the topology (PostgreSQL aside, which runs under its own pg_ctl)."""
        names = ["temporal-server", "sandboxes", "redis", "balancer"]
        names += [f"worker-{i}" for i in range(self.config.workers)]
        names += [f"api-{i}" for i in range(len(self.config.ports.api_processes))]
        if self.config.ui:
            names.append("temporal-ui")
        return names

    def status(self) -> Status:
        names = self.process_names()
        return Status({name: self.supervisor.pid(name) for name in names}, self._postgres().is_running())

    async def __aenter__(self) -> Topology:
        try:
            await self.up()
        except BaseException:
            await self.down()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.down()

    # --- one process at a time (chaos and recovery tests) ---------------------------------------

    async def kill_worker(self, index: int = 0, sig: int = signal.SIGKILL) -> None:
        """SIGKILL: the machine died under it. SIGTERM: a graceful stop (killed after 30 s)."""
        await asyncio.to_thread(self.supervisor.stop, f"worker-{index}", 30, sig)

    async def start_worker(self, index: int = 0) -> None:
        self._start_if_stopped(self._worker_process(index))

    async def kill_api(self, index: int = 0, sig: int = signal.SIGKILL) -> None:
        await asyncio.to_thread(self.supervisor.stop, f"api-{index}", 30, sig)

    async def start_api(self, index: int = 0) -> None:
        """Starts it and returns once it listens (i.e. it is connected to Temporal)."""
        self._start_if_stopped(self._api_process(index))
        await self._wait_listening(f"api-{index}", self.config.ports.api_processes[index])

    async def restart_temporal(self, sig: int = signal.SIGTERM) -> None:
        """Stops the Temporal server (SIGTERM: graceful; SIGKILL: a crash) and starts it again on the
        same databases; returns once it serves again."""
        server = self._server()
        await asyncio.to_thread(self.supervisor.stop, "temporal-server", 30, sig)
        self.supervisor.start(server.process())
        await server.wait_until_serving(alive=lambda: self.pid("temporal-server") is not None)

    def pid(self, name: str) -> int | None:
        return self.supervisor.pid(name)

    # --- the parts ------------------------------------------------------------------------------

    def _prepare_state_dir(self) -> None:
        state = self.config.state_dir
        state.mkdir(parents=True, exist_ok=True)
        (state / "logs").mkdir(exist_ok=True)
        self.config.save()
        self._secrets()
        self.people_keys.ensure()
        if self.config.mtls:
            ensure_certificates(state / "tls", self.config.tls_server_name)

    async def _migrate_store(self) -> None:
        """Brings the event store's schema up to date with the installed app's own command."""
        command = [*self._app_command("python"), "-m", "store", "migrate"]
        migrating = await asyncio.create_subprocess_exec(
            *command,
            cwd=self.app_dir,
            env=self.app_environment(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await migrating.communicate()
        if migrating.returncode != 0:
            raise RuntimeError(f"the store's migration failed ({migrating.returncode}): {output.decode().strip()}")
        log.info("store migrated", database=STORE_DATABASE, said=output.decode().strip().splitlines()[-1])

    def _check_all_running(self) -> None:
        """A process that started and died (a bad setting, a crash at start) fails `up`, naming it."""
        started_only_with_its_tool = {"temporal-ui"} if self.tools.ui_server is None else set()
        processes = self.status().processes
        if stopped := [
            name for name, pid in processes.items() if pid is None and name not in started_only_with_its_tool
        ]:
            tails = "\n".join(f"--- {name}:\n{self.log_tail(name)}" for name in stopped)
            raise RuntimeError(f"stopped after starting: {', '.join(stopped)}; their logs end:\n{tails}")

    def _secrets(self) -> dict[str, str]:
        """Generated once per state directory; the app's keys and webhook secrets, the database password."""
        path = self.config.state_dir / "secrets.json"
        known = json.loads(path.read_text()) if path.exists() else {}
        if any(name not in known for name in _SECRET_NAMES):
            known = {name: known.get(name) or _new_secret(name) for name in _SECRET_NAMES}
            path.touch(mode=0o600)
            path.chmod(0o600)
            path.write_text(json.dumps(known, indent=2) + "\n")
        return known

    def _postgres(self) -> Postgres:
        return Postgres(
            self.tools.postgres_bin,
            self.config.state_dir / "postgres",
            self.config.ports.postgres,
            self.supervisor.log_file("postgres"),
        )

    def _server(self) -> TemporalServer:
        return TemporalServer(self.tools, self.config, self._secrets()["postgres_password"], self.tls)

    def _install_app(self) -> Path:
        wheel = app.build_wheel(self.app_dir / "dist")
        venv = app.ensure_environment(wheel)
        (self.app_dir / "run").mkdir(exist_ok=True)
        (self.app_dir / "venv").unlink(missing_ok=True)
        (self.app_dir / "venv").symlink_to(venv)  # for people: which environment the processes run from
        log.info("app installed", venv=str(venv), wheel=wheel.name)
        return venv

    def app_environment(self, **overrides: str) -> dict[str, str]:
        """The environment of an app process: the topology's settings as the variables Settings reads."""
        env = base_environment()
        for name, value in self.settings.model_dump().items():
            if value is not None:
                env[name.upper()] = str(value.get_secret_value() if isinstance(value, SecretStr) else value)
        return {**env, **overrides, "PYTHONUNBUFFERED": "1"}

    def _app_command(self, script: str) -> list[str]:
        venv = self.venv or (self.app_dir / "venv").resolve()  # the real path: see app._in_use
        return [str(venv / "bin" / script)]

    def _worker_process(self, index: int) -> ProcessSpec:
        ports = self.config.ports
        environment = self.app_environment(
            WORKER_HEALTH_PORT=str(ports.worker_health[index]), SDK_METRICS_PORT=str(ports.sdk_metrics[index])
        )
        return ProcessSpec(f"worker-{index}", self._app_command("returns-worker"), self.app_dir / "run", environment)

    def _api_process(self, index: int) -> ProcessSpec:
        ports = self.config.ports
        environment = self.app_environment(
            API_PORT=str(ports.api_processes[index]),
            SDK_METRICS_PORT=str(ports.sdk_metrics[self.config.workers + index]),
        )
        return ProcessSpec(f"api-{index}", self._app_command("returns-api"), self.app_dir / "run", environment)

    def worker_health_url(self, index: int) -> str:
        return f"http://{HOST}:{self.config.ports.worker_health[index]}"

    def _balancer_process(self) -> ProcessSpec:
        argv = [sys.executable, "-m", "deploy.balancer", "--listen", f"{HOST}:{self.config.ports.api}"]
        for port in self.config.ports.api_processes:
            argv += ["--backend", f"{HOST}:{port}"]
        return ProcessSpec("balancer", argv, ROOT, base_environment())

    def _redis_process(self) -> ProcessSpec:
        """Redis for counters that expire within minutes: nothing saved to disk (a restart forgets at
        most ten minutes of lookups). Its password is in a 0600 config file, not on the command line."""
        directory = self.config.state_dir / "redis"
        directory.mkdir(exist_ok=True)
        config = directory / "redis.conf"
        config.touch(mode=0o600)
        config.chmod(0o600)
        settings = {
            "bind": HOST,
            "port": self.config.ports.redis,
            "protected-mode": "yes",
            "requirepass": self._secrets()["redis_password"],
            "save": '""',
            "appendonly": "no",
            "dir": directory,
            "daemonize": "no",
        }
        config.write_text("".join(f"{name} {value}\n" for name, value in settings.items()))
        return ProcessSpec("redis", [str(self.tools.redis_server), str(config)], directory, base_environment())

    def _sandboxes_process(self) -> ProcessSpec:
        # From the repo for now: the sandboxes stand in for the vendors and are no part of the deployed app.
        ports = self.config.ports
        argv = [
            sys.executable,
            "-m",
            "sandboxes",
            f"--stripe-port={ports.stripe}",
            f"--shippo-port={ports.shippo}",
            f"--shop-port={ports.shop}",
        ]
        return ProcessSpec("sandboxes", argv, ROOT, base_environment())

    def _start_if_stopped(self, spec: ProcessSpec) -> None:
        if self.supervisor.pid(spec.name) is None:
            self.supervisor.start(spec)

    async def _wait_listening(self, name: str, port: int, timeout: float = 90) -> None:
        """Until `name` accepts connections on `port`; fails at once, with its log's end, if it died."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                _, writer = await asyncio.open_connection(HOST, port)
                writer.close()
                return
            except OSError:
                if self.supervisor.pid(name) is None:
                    raise RuntimeError(f"{name} exited while starting:\n{self.log_tail(name)}") from None
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"{name} not listening on {HOST}:{port} after {timeout} s") from None
                await asyncio.sleep(0.1)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.supervisor.log_file(name)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"

    async def _wait_for_http(self, url: str, timeout: float = 60, ready: bool = False) -> None:
        """Until `url` answers (below 500; `ready`: 200)."""
        deadline = asyncio.get_running_loop().time() + timeout
        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                try:
                    status = (await http.get(url)).status_code
                    if status == 200 or (status < 500 and not ready):
                        return
                except httpx.TransportError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"{url} did not answer within {timeout} s; see {self.supervisor.log_dir}")
                await asyncio.sleep(0.2)


def _new_secret(name: str) -> str:
    if name == "payload_keys":
        return f"{PAYLOAD_KEY_ID}:{new_key()}"
    return secrets.token_hex(24)
