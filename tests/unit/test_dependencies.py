"""Dependencies stay past their known advisories, and the image's base is an exact, named release."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]

# package -> (the first version past its advisories, the advisories); direct or pulled in by another.
ADVISORIES = {
    "starlette": ("1.0.1", "CVE-2026-48710 CVE-2025-62727 CVE-2025-54121 CVE-2024-47874"),
    "h11": ("0.16.0", "CVE-2025-43859"),
    "requests": ("2.33.0", "CVE-2026-25645 CVE-2024-47081 CVE-2024-35195"),
    "urllib3": ("2.6.3", "CVE-2026-21441 CVE-2025-66418 CVE-2025-66471"),
    "werkzeug": ("3.1.6", "CVE-2026-27199 CVE-2026-21860 CVE-2025-66221 CVE-2024-34069"),
}
# The oldest Python 3.11 release whose image carries the fixes the 3.11 line has had (tarfile, email, ...).
PYTHON_BASE = Version("3.11.14")


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    return {requirement.name.lower(): requirement for requirement in map(Requirement, declared)}


def _minimum(requirement: Requirement) -> Version | None:
    floors = [Version(spec.version) for spec in requirement.specifier if spec.operator in (">=", "==", "~=")]
    return max(floors, default=None)


@pytest.mark.parametrize("package", sorted(ADVISORIES))
def test_declared_minimum_is_past_every_known_advisory(package: str) -> None:
    fixed, advisories = ADVISORIES[package]
    requirement = _requirements().get(package)
    assert requirement is not None, f"{package} is not declared: pin its minimum past {advisories}"
    minimum = _minimum(requirement)
    assert minimum is not None and minimum >= Version(fixed), f"{requirement}: needs >= {fixed} ({advisories})"
    assert Version(version(package)) >= Version(fixed)  # and what is installed honours it


def test_fastapi_admits_the_starlette_we_need() -> None:
    assert _minimum(_requirements()["fastapi"]) >= Version("0.135")  # the first to drop starlette's upper bound


def test_every_stage_of_the_image_builds_on_one_exact_python_release() -> None:
    bases = re.findall(r"^FROM (python:\S+)", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
    assert len(bases) >= 2 and len(set(bases)) == 1, bases
    tag = re.fullmatch(r"python:(\d+\.\d+\.\d+)-slim-bookworm(@sha256:[0-9a-f]{64})?", bases[0])
    assert tag is not None, f"{bases[0]}: pin an exact release (X.Y.Z), optionally by digest"
    assert Version(tag.group(1)) >= PYTHON_BASE
