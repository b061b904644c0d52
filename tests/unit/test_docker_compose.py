"""docker-compose.yml parses and describes the system the README promises (no Docker engine here)."""

import re
from pathlib import Path

import yaml
from temporalio.api.enums.v1 import IndexedValueType

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"postgresql", "temporal", "temporal-setup", "temporal-ui", "sandboxes", "api", "worker"}


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_names_every_service_the_readme_mentions() -> None:
    services = set(_compose()["services"])
    assert services == SERVICES
    docker_section = (ROOT / "README.md").read_text().split("## Docker", 1)[1].split("\n## ", 1)[0]
    mentioned = set(re.findall(r"`([a-z-]+)`", docker_section)) & (services | {"postgres", "ui"})
    assert mentioned == SERVICES


def test_app_services_run_installed_entry_points_against_the_compose_network() -> None:
    compose = _compose()
    scripts = (ROOT / "pyproject.toml").read_text()
    for name in ("api", "worker"):
        service = compose["services"][name]
        assert f"\n{service['command'][0]} = " in scripts  # an entry point of the installed wheel
        assert service["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    sandboxes = compose["services"]["sandboxes"]
    assert sandboxes["build"]["target"] == "sandboxes" and sandboxes["command"][:3] == ["python", "-m", "sandboxes"]
    assert (
        compose["services"]["worker"]["depends_on"]["temporal-setup"]["condition"] == "service_completed_successfully"
    )


def test_search_attributes_registered_by_compose_are_the_workflow_s() -> None:
    from workflows.search_attributes import ALL

    command = " ".join(_compose()["services"]["temporal-setup"]["command"])
    types = {
        "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    }
    registered = {name: types[kind] for name, kind in re.findall(r"--name (\w+) --type (\w+)", command)}
    assert registered == {key.name: key.indexed_value_type for key in ALL}
