"""The Temporal server on PostgreSQL: schemas, its config, its namespace and search attributes.

The config is rendered from the server module's own `config/development-postgres12.yaml` (kept
beside the binaries by scripts/setup-production.sh), changing only what this topology decides:
ports, shard count, the database's address and password, the metrics listener, mTLS.
"""

from __future__ import annotations

import asyncio
import copy
import os
import subprocess
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
import yaml
from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
    UpdateNamespaceRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from deploy.config import HOST, Ports, TopologyConfig
from deploy.processes import ProcessSpec, base_environment
from deploy.tls import TLSFiles
from deploy.tools import Tools
from integrations.temporal_client import register_search_attributes

log = structlog.get_logger(__name__)

DATABASE_USER = "temporal"
DATABASES = {"temporal": "temporal", "temporal_visibility": "visibility"}  # database -> schema folder
TEMPLATE = Path("config") / "development-postgres12.yaml"
DYNAMIC_CONFIG_TEMPLATE = Path("config") / "dynamicconfig" / "development-sql.yaml"
SERVICES = ("frontend", "history", "matching", "worker")


def migrate_databases(tools: Tools, postgres_port: int, password: str) -> None:
    """Creates both databases and brings their schemas to this server version's. Each step of the SQL
    tool is idempotent (an existing database, a set-up schema pass; `update-schema` applies only the
    versions a database lacks), so this runs at every `up` and is also the upgrade path."""
    env = {**os.environ, "SQL_PASSWORD": password}  # not on the command line
    schema_root = tools.server_files / "schema" / "postgresql" / "v12"
    for database, schema in DATABASES.items():
        connection = ["--ep", HOST, "-p", str(postgres_port), "-u", DATABASE_USER, "--db", database]
        base = [str(tools.sql_tool), "--plugin", "postgres12", *connection]
        for step in (
            ["create-database"],
            ["setup-schema", "-v", "0.0"],
            ["update-schema", "-d", str(schema_root / schema / "versioned")],
        ):
            result = subprocess.run([*base, *step], env=env, capture_output=True, text=True)
            if result.returncode != 0:
                output = (result.stdout + result.stderr).strip()[-2000:]
                raise RuntimeError(f"temporal-sql-tool {step[0]} on {database} failed ({result.returncode}): {output}")
        log.info("temporal database ready", database=database)


def render_server_config(
    template: dict[str, Any],
    config: TopologyConfig,
    password: str,
    dynamic_config_file: Path,
    tls: TLSFiles | None,
) -> dict[str, Any]:
    """The template with this topology's decisions in it (pure: tests check it without a server)."""
    ports = config.ports
    rendered = copy.deepcopy(template)
    persistence = rendered["persistence"]
    persistence["numHistoryShards"] = config.history_shards
    for store in persistence["datastores"].values():
        store["sql"].update(connectAddr=f"{HOST}:{ports.postgres}", user=DATABASE_USER, password=password)
    glob = rendered["global"]
    glob["membership"]["broadcastAddress"] = HOST
    glob["pprof"]["port"] = 0  # off: nothing here profiles the server, and it would be one more open port
    glob["metrics"]["prometheus"]["listenAddress"] = f"{HOST}:{ports.temporal_metrics}"
    for service in SERVICES:
        rpc = rendered["services"][service]["rpc"]
        rpc["grpcPort"] = getattr(ports, f"temporal_{service}")
        rpc["membershipPort"] = getattr(ports, f"temporal_{service}_membership")
        rpc["bindOnLocalHost"] = True
    rendered["services"]["frontend"]["rpc"]["httpPort"] = ports.temporal_frontend_http
    rendered["clusterMetadata"]["clusterInformation"]["active"]["rpcAddress"] = f"{HOST}:{ports.temporal_frontend}"
    rendered["dynamicConfigClient"]["filepath"] = str(dynamic_config_file)
    if tls is not None:
        glob["tls"] = _frontend_mtls(tls)
    return rendered


def _frontend_mtls(tls: TLSFiles) -> dict[str, Any]:
    """Clients of the frontend must show a certificate from our CA; the services among themselves
    stay plain (they talk over loopback inside one process group). The system worker, a client of
    the frontend too, gets a certificate of its own."""
    worker = tls.client("temporal-system-worker")
    client_side = {"serverName": tls.server_name, "rootCaFiles": [str(tls.ca)]}
    return {
        "frontend": {
            "server": {
                "certFile": str(tls.server.cert),
                "keyFile": str(tls.server.key),
                "clientCaFiles": [str(tls.ca)],
                "requireClientAuth": True,
            },
            "client": client_side,
        },
        "systemWorker": {"certFile": str(worker.cert), "keyFile": str(worker.key), "client": client_side},
    }


def render_dynamic_config(template: dict[str, Any], ports: Ports) -> dict[str, Any]:
    rendered = copy.deepcopy(template)
    key = "component.nexusoperations.callback.endpoint.template"
    if key in rendered:  # the template's callback URL names the default HTTP port
        for entry in rendered[key]:
            entry["value"] = entry["value"].replace("localhost:7243", f"{HOST}:{ports.temporal_frontend_http}")
    return rendered


class TemporalServer:
    """Writes the server's config under `<state>/temporal/` and describes the process that runs it."""

    def __init__(self, tools: Tools, config: TopologyConfig, password: str, tls: TLSFiles | None) -> None:
        self.tools = tools
        self.config = config
        self.password = password
        self.tls = tls
        self.root = config.state_dir / "temporal"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.config.ports.temporal_frontend}"

    def write_config(self) -> None:
        config_dir = self.root / "config"
        dynamic_file = config_dir / "dynamicconfig" / f"{self.config.server_environment}.yaml"
        dynamic_file.parent.mkdir(parents=True, exist_ok=True)
        template = yaml.safe_load((self.tools.server_files / TEMPLATE).read_text())
        dynamic = yaml.safe_load((self.tools.server_files / DYNAMIC_CONFIG_TEMPLATE).read_text()) or {}
        dynamic_file.write_text(yaml.safe_dump(render_dynamic_config(dynamic, self.config.ports), sort_keys=False))
        server_file = config_dir / f"{self.config.server_environment}.yaml"
        server_file.touch(mode=0o600)
        server_file.chmod(0o600)  # it holds the database password
        rendered = render_server_config(template, self.config, self.password, dynamic_file, self.tls)
        server_file.write_text(yaml.safe_dump(rendered, sort_keys=False))

    def process(self) -> ProcessSpec:
        where = ["--root", str(self.root), "--config", "config", "--env", self.config.server_environment]
        argv = [str(self.tools.temporal_server), *where, "--allow-no-auth", "start"]
        return ProcessSpec("temporal-server", argv, cwd=self.root, env=base_environment())

    def client_tls(self, client: str = "returns-app") -> TLSConfig | bool:
        if self.tls is None:
            return False
        pair = self.tls.client(client)
        return TLSConfig(
            server_root_ca_cert=self.tls.ca.read_bytes(),
            client_cert=pair.cert.read_bytes(),
            client_private_key=pair.key.read_bytes(),
            domain=self.tls.server_name,
        )

    async def connect(self, namespace: str | None = None) -> Client:
        return await Client.connect(
            self.address, namespace=namespace or self.config.namespace, tls=self.client_tls(), lazy=False
        )

    async def wait_until_serving(self, timeout: float = 120, alive: Callable[[], bool] = lambda: True) -> Client:
        """Polls the frontend's gRPC health check until it answers SERVING (or the server exits)."""
        deadline = asyncio.get_running_loop().time() + timeout
        last_error: Exception | None = None
        while asyncio.get_running_loop().time() < deadline and alive():
            try:
                client = await self.connect()
                if await client.service_client.check_health():
                    return client
            except (RuntimeError, RPCError) as error:  # not listening yet, or not serving yet
                last_error = error
            await asyncio.sleep(0.5)
        if not alive():
            raise RuntimeError(f"the Temporal server exited while starting; see {self.config.state_dir}/logs")
        raise TimeoutError(f"the Temporal server at {self.address} was not serving after {timeout} s: {last_error}")


async def configure_namespace(
    client: Client, namespace: str, retention: timedelta, search_attributes: Iterable[SearchAttributeKey]
) -> None:
    """The namespace with exactly this retention, and the return's search attributes on it."""
    retention_pb = Duration()
    retention_pb.FromTimedelta(retention)
    service = client.workflow_service
    try:
        described = await service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        await service.register_namespace(
            RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=retention_pb)
        )
        log.info("namespace registered", namespace=namespace, retention_days=retention / timedelta(days=1))
    else:
        if described.config.workflow_execution_retention_ttl.ToTimedelta() != retention:
            await service.update_namespace(
                UpdateNamespaceRequest(
                    namespace=namespace, config=NamespaceConfig(workflow_execution_retention_ttl=retention_pb)
                )
            )
            log.info(
                "namespace retention changed", namespace=namespace, retention_days=retention.total_seconds() / 86400
            )
    await _wait_until_usable(client, namespace)
    await register_search_attributes(client, namespace, search_attributes)


async def _wait_until_usable(client: Client, namespace: str, timeout: float = 60) -> None:
    """A namespace just registered reaches each service's namespace cache after a few seconds;
    a visibility query goes through that cache, so it answering means workflows can start."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await client.workflow_service.count_workflow_executions(CountWorkflowExecutionsRequest(namespace=namespace))
            return
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
