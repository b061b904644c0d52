"""What the launcher writes before anything starts: the server's and the UI's config from the server
module's own template, the ports it picks, the environment the app's processes get."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy import Ports, Tools, Topology, TopologyConfig
from deploy.temporal import DYNAMIC_CONFIG_TEMPLATE, TEMPLATE, render_dynamic_config, render_server_config
from deploy.tls import ensure_certificates
from deploy.ui import render_ui_config

pytestmark = pytest.mark.production

DEV_STACK_PORTS = {7233, 8233, 8000, 12111, 12112, 12113, 5432}


def _template(tools: Tools, path: Path) -> dict:
    return yaml.safe_load((tools.server_files / path).read_text())


def test_default_ports_stay_clear_of_the_dev_stack_and_of_each_other() -> None:
    ports = Ports()
    numbers = ports.all_numbers()
    assert len(set(numbers)) == len(numbers)
    assert not set(numbers) & DEV_STACK_PORTS


def test_free_ports_fit_temporal_s_membership_table() -> None:
    """Temporal keeps membership ports in a SMALLINT: a port above 32767 stops the server at start."""
    ports = Ports.free(api_processes=3)
    numbers = ports.all_numbers()
    assert len(set(numbers)) == len(numbers) == len(vars(ports)) - 3 + 3 + 2 + (2 + 3)  # singles, then per process
    assert all(1024 < port <= 32767 for port in numbers)


def test_server_config_is_the_module_s_template_with_our_ports_shards_and_database(
    production_tools: Tools, tmp_path: Path
) -> None:
    config = TopologyConfig(state_dir=tmp_path, ports=Ports.free(), history_shards=4)
    template = _template(production_tools, TEMPLATE)
    rendered = render_server_config(template, config, "s3cret", tmp_path / "dynamic.yaml", tls=None)

    assert rendered["persistence"]["numHistoryShards"] == 4
    stores = rendered["persistence"]["datastores"]
    assert {store["sql"]["pluginName"] for store in stores.values()} == {"postgres12"}  # SQL visibility too
    assert rendered["persistence"]["visibilityStore"] in stores
    for store in stores.values():
        assert store["sql"]["connectAddr"] == f"127.0.0.1:{config.ports.postgres}"
        assert (store["sql"]["user"], store["sql"]["password"]) == ("temporal", "s3cret")
    assert rendered["services"]["frontend"]["rpc"]["grpcPort"] == config.ports.temporal_frontend
    assert rendered["services"]["history"]["rpc"]["membershipPort"] == config.ports.temporal_history_membership
    assert all(service["rpc"]["bindOnLocalHost"] for service in rendered["services"].values())
    metrics = rendered["global"]["metrics"]["prometheus"]["listenAddress"]
    assert (
        metrics
        == f"127.0.0.1:{config.ports.temporal_metrics}"
        != template["global"]["metrics"]["prometheus"]["listenAddress"]
    )
    assert rendered["global"]["pprof"]["port"] == 0
    assert "tls" not in rendered["global"]
    assert template["persistence"]["datastores"]["postgres-default"]["sql"]["password"] == "temporal"  # untouched


def test_dynamic_config_points_nexus_callbacks_at_our_http_port(production_tools: Tools) -> None:
    ports = Ports.free()
    rendered = render_dynamic_config(_template(production_tools, DYNAMIC_CONFIG_TEMPLATE), ports)
    (callback,) = rendered["component.nexusoperations.callback.endpoint.template"]
    assert f"127.0.0.1:{ports.temporal_frontend_http}/" in callback["value"]


def test_mtls_config_requires_client_certificates_from_our_ca(production_tools: Tools, tmp_path: Path) -> None:
    config = TopologyConfig(state_dir=tmp_path, mtls=True)
    tls = ensure_certificates(tmp_path / "tls", config.tls_server_name)
    rendered = render_server_config(_template(production_tools, TEMPLATE), config, "pw", tmp_path / "d.yaml", tls)

    frontend = rendered["global"]["tls"]["frontend"]
    assert frontend["server"]["requireClientAuth"] is True
    assert frontend["server"]["clientCaFiles"] == [str(tls.ca)]
    worker = rendered["global"]["tls"]["systemWorker"]
    assert worker["certFile"] == str(tls.client("temporal-system-worker").cert)
    assert worker["client"]["serverName"] == config.tls_server_name
    assert (tls.server.key.stat().st_mode & 0o777) == 0o600
    assert ensure_certificates(tmp_path / "tls", config.tls_server_name).ca.read_bytes() == tls.ca.read_bytes()


def test_web_ui_listens_on_loopback_only(tmp_path: Path) -> None:
    config = TopologyConfig(state_dir=tmp_path, ports=Ports.free())
    rendered = render_ui_config(config, tls=None)
    assert rendered["host"] == "127.0.0.1"
    assert rendered["temporalGrpcAddress"] == f"127.0.0.1:{config.ports.temporal_frontend}"
    assert rendered["cors"]["allowOrigins"] == [f"http://127.0.0.1:{config.ports.ui}"]


def test_app_processes_get_the_topology_s_settings_and_nothing_of_the_launching_shell(
    production_tools: Tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_live_not_for_the_sandbox")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    topology = Topology(TopologyConfig(state_dir=tmp_path, ports=Ports.free(), mtls=True), production_tools)
    environment = topology.app_environment(API_PORT="1234")

    assert "STRIPE_API_KEY" not in environment and "PYTHONPATH" not in environment
    assert environment["TEMPORAL_ADDRESS"] == topology.temporal_address
    assert environment["TEMPORAL_NAMESPACE"] == "default"
    assert environment["STRIPE_API_BASE"] == topology.sandbox_url("stripe")
    assert Path(environment["TEMPORAL_TLS_CERT"]).name == "returns-app.pem"
    assert environment["TEMPORAL_TLS_SERVER_NAME"] == "temporal-frontend"
    assert environment["API_PORT"] == "1234" and environment["LOG_FORMAT"] == "json"
    assert len(environment["API_KEY_STOREFRONT"]) >= 32
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600
