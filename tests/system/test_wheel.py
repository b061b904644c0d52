"""The app is what its wheel holds: installed into a fresh virtual environment outside the
repository, its commands start from any directory, and the development tooling is not in it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNTRACKED = (".git", ".venv", ".run", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".tools*.env")
PRODUCT = {"workflows", "activities", "workers", "starter", "integrations", "api", "store", "portal", "console", "web"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: setuptools leaves a build/ folder in the tree it builds.
    source = tmp_path_factory.mktemp("source") / "returns"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*UNTRACKED))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(source)],
        check=True,
        cwd=out,
    )
    (built,) = out.glob("returns_on_temporal-*.whl")
    return built


def test_the_wheel_holds_the_product_and_its_policy_and_nothing_of_the_tooling(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/", 1)[0] for name in names if "/" in name and ".dist-info" not in name}
    assert packages == PRODUCT
    assert "starter/return_policy.json" in names
    assert "store/migrations/versions/0001_initial.py" in names  # Alembic reads migrations as files
    assert {
        "portal/templates/base.html",
        "portal/static/portal.css",
        "portal/locale/de/LC_MESSAGES/messages.po",
        "console/templates/base.html",
        "console/static/console.css",
        "web/static/pages.css",
    } <= set(names)  # the portal's and the console's pages, their shared stylesheet, the German catalog


def test_the_installed_commands_start_from_another_directory(wheel: Path, tmp_path: Path) -> None:
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    bin_dir = environment / "bin"
    subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        check=True,
        cwd=tmp_path,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for command in (["returns-api", "--help"], ["returns-worker", "--help"], ["returnsctl", "list", "--help"]):
        done = subprocess.run(
            [bin_dir / command[0], *command[1:]], cwd=elsewhere, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (command, done.stderr)
        assert "usage:" in done.stdout
    policy = subprocess.run(
        [
            bin_dir / "python",
            "-c",
            "from starter.policy import load_return_policy; print(load_return_policy(None).version)",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    )
    assert policy.stdout.strip() == "2026-12-default"
