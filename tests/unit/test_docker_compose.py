"""docker-compose.yml and the native topology of deploy/ describe the same deployment: the same parts, image
versions, app settings, retention, shards, search attributes and worker count. No Docker engine runs here:
the test reads both descriptions (deploy/'s from its own code, not from a copy)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from deploy import Topology, TopologyConfig
from integrations.settings import Settings
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("api", "worker")
# Native processes and steps by the name compose gives the same part.
COMPOSE_NAME_OF = {
    "postgres": "postgresql",  # deploy/postgres.py's cluster
    "migrate_databases": "temporal-schema",  # deploy/temporal.py: the schemas, before the server
    "temporal-server": "temporal",
    "configure_namespace": "temporal-setup",  # deploy/temporal.py: retention and search attributes
    "ensure_database": "store-database",  # deploy/postgres.py: the event store's database and login
    "_migrate_store": "store-migrate",  # deploy/topology.py: the store's schema, before the app
    "temporal-ui": "temporal-ui",
    "sandboxes": "sandboxes",
    "balancer": "api",  # one port for the API processes: compose's published port plays its part
}
# What compose passes through from its operator that the native topology (sandbox mode, one shared key
# per role) leaves unset: live vendors' keys, a tracing endpoint, per-holder API keys.
PASSED_THROUGH = {"STRIPE_API_KEY", "SHIPPO_API_TOKEN", "OTEL_EXPORTER_OTLP_ENDPOINT", "API_KEYS"}
# What the native topology decides that compose takes from its operator instead: people's keys live in a
# file `python -m deploy key` edits while the API runs; compose's operator sets API_KEYS.
NATIVE_ONLY = {"API_KEYS_FILE"}
CLI_TYPE = {
    "KEYWORD": "Keyword",
    "TEXT": "Text",
    "INT": "Int",
    "DOUBLE": "Double",
    "BOOL": "Bool",
    "DATETIME": "Datetime",
    "KEYWORD_LIST": "KeywordList",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture
def native(tmp_path: Path) -> Topology:
    return Topology(TopologyConfig(state_dir=tmp_path))


def _native_versions() -> dict[str, str]:
    script = (ROOT / "scripts" / "setup-production.sh").read_text()
    return dict(
        re.findall(
            r"^(TEMPORAL_SERVER_VERSION|TEMPORAL_UI_SERVER_VERSION|POSTGRES_MAJOR|REDIS_MAJOR)=(\S+)", script, re.M
        )
    )


def _image(compose: dict, service: str) -> tuple[str, str]:
    name, _, tag = compose["services"][service]["image"].partition(":")
    return name, tag


def _script(compose: dict, service: str) -> str:
    return "\n".join(compose["services"][service]["command"])


def test_same_parts(compose: dict, native: Topology) -> None:
    processes = {re.sub(r"-\d+$", "", name) for name in native.process_names()}
    processes = {COMPOSE_NAME_OF.get(name, name) for name in processes}
    one_shots = ("postgres", "migrate_databases", "configure_namespace", "ensure_database", "_migrate_store")
    steps = {COMPOSE_NAME_OF[step] for step in one_shots}
    assert processes | steps == set(compose["services"])


def test_same_versions(compose: dict) -> None:
    versions = _native_versions()
    assert _image(compose, "temporal") == ("temporalio/server", versions["TEMPORAL_SERVER_VERSION"])
    for one_shot in ("temporal-schema", "temporal-setup"):
        assert _image(compose, one_shot) == ("temporalio/admin-tools", versions["TEMPORAL_SERVER_VERSION"])
    assert _image(compose, "temporal-ui") == ("temporalio/ui", versions["TEMPORAL_UI_SERVER_VERSION"])
    name, tag = _image(compose, "postgresql")
    assert (name, tag.split(".")[0]) == ("postgres", versions["POSTGRES_MAJOR"])
    name, tag = _image(compose, "redis")
    assert (name, tag.split(".")[0]) == ("redis", versions["REDIS_MAJOR"])


def test_same_app_settings(compose: dict, native: Topology) -> None:
    decided = {name.upper() for name, value in native.decided_settings().items() if value is not None}
    per_process = set(native._worker_process(0).env) | set(native._api_process(0).env)
    native_names = (decided | (per_process - set(native.app_environment()))) - NATIVE_ONLY
    composed = set()
    for service in APP_SERVICES:
        composed |= set(compose["services"][service]["environment"])
    fields = {name.upper() for name in Settings.model_fields}
    assert composed <= fields, f"compose sets what no setting reads: {composed - fields}"
    assert composed - PASSED_THROUGH == native_names, (composed - PASSED_THROUGH) ^ native_names
    assert composed >= PASSED_THROUGH


def test_same_mode_and_secrets_are_required_not_defaulted(compose: dict) -> None:
    environment = compose["services"]["worker"]["environment"]
    for name in ("VENDOR_MODE", "PAYLOAD_KEYS", "API_KEY_OPERATOR"):
        assert ":?" in environment[name], name  # compose stops with a message when it is unset
    assert ":?" in compose["services"]["api"]["environment"]["PORTAL_RATE_LIMIT_STORAGE"]  # Redis's password


def test_same_retention_and_shards(compose: dict) -> None:
    config = TopologyConfig()
    retentions = re.findall(r"--retention (\d+)h", _script(compose, "temporal-setup"))
    assert retentions and {timedelta(hours=int(hours)) for hours in retentions} == {config.retention}
    assert int(compose["services"]["temporal"]["environment"]["NUM_HISTORY_SHARDS"]) == config.history_shards


def test_same_search_attributes(compose: dict) -> None:
    registered = set(re.findall(r"(\w+):(\w+)", _script(compose, "temporal-setup").split("for attribute in", 1)[1]))
    expected = {(key.name, CLI_TYPE[key.indexed_value_type.name]) for key in SEARCH_ATTRIBUTES}
    assert registered == expected


def test_same_worker_count_and_graceful_shutdown(compose: dict, native: Topology) -> None:
    worker = compose["services"]["worker"]
    assert worker["deploy"]["replicas"] == native.config.workers == 2
    grace = float(worker["environment"]["WORKER_GRACEFUL_SHUTDOWN_SECONDS"])
    assert grace == native.config.graceful_shutdown.total_seconds()
    assert int(worker["stop_grace_period"].removesuffix("s")) > grace  # activities get their time before a kill


def test_only_the_api_is_published_and_the_web_ui_on_loopback(compose: dict) -> None:
    published = {name: service.get("ports", []) for name, service in compose["services"].items() if "ports" in service}
    assert published == {"api": ["8000:8000"], "temporal-ui": ["127.0.0.1:8080:8080"]}


def test_sandboxes_exist_only_in_sandbox_mode(compose: dict) -> None:
    sandboxes = compose["services"]["sandboxes"]
    assert sandboxes["profiles"] == ["sandbox"]
    assert sandboxes["build"]["target"] == "sandboxes" and sandboxes["command"][:3] == ["python", "-m", "sandboxes"]
    assert compose["services"]["worker"]["depends_on"]["sandboxes"]["required"] is False


def test_app_services_run_installed_entry_points(compose: dict) -> None:
    scripts = (ROOT / "pyproject.toml").read_text()
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert f"\n{service['command'][0]} = " in scripts  # an entry point of the installed wheel
        assert service["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
        assert service["depends_on"]["temporal-setup"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["store-migrate"]["condition"] == "service_completed_successfully"


def test_the_store_is_on_postgresql_with_the_apps_own_login_and_migrated_by_the_app(
    compose: dict, native: Topology
) -> None:
    composed = compose["services"]["api"]["environment"]["EVENT_STORE_URL"]
    native_url = native.decided_settings()["event_store_url"].get_secret_value()
    for url in (composed, native_url):
        assert re.fullmatch(r"postgresql://returns:[^@]+@[^/]+/returns_store", url), url
    migrate = compose["services"]["store-migrate"]
    assert migrate["command"] == ["python", "-m", "store", "migrate"] and migrate["build"]["target"] == "app"
    assert migrate["environment"]["EVENT_STORE_URL"] == composed


def test_the_readme_names_every_service(compose: dict) -> None:
    docker_section = (ROOT / "README.md").read_text().split("## Docker", 1)[1].split("\n## ", 1)[0]
    mentioned = set(re.findall(r"`([a-z-]+)`", docker_section)) & set(compose["services"])
    assert mentioned == set(compose["services"])
