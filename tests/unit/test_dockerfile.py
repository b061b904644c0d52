"""The app's image holds the whole product: its wheel stage copies every package pyproject.toml
ships, and every compose service of the app builds the app's stage, not the sandboxes' one. No
Docker engine runs here, so the test reads the Dockerfile and compose file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _stage(name: str) -> str:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)
    found = [stage for stage in stages if re.match(rf"\S+ AS {name}\b", stage)]
    assert len(found) == 1, f"one stage named {name}"
    return found[0]


def test_the_wheel_stage_copies_every_package_the_project_ships() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = {pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY (\S+) \1$", _stage("wheel"), flags=re.MULTILINE))
    assert copied == shipped
    assert all((ROOT / package / "__init__.py").is_file() for package in shipped)


def test_every_app_service_builds_the_app_stage() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    built = {name: service["build"] for name, service in services.items() if "build" in service}
    assert {name for name, build in built.items() if build.get("target") == "app"} >= {"api", "worker", "store-migrate"}
    assert {name for name, build in built.items() if build.get("target") != "app"} == {"sandboxes"}
    assert "USER returns" in _stage("app")
