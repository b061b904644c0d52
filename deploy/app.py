"""The application as users install it: its wheel, in a virtual environment outside the repo.

The wheel is built from a copy of the work tree (so the build leaves nothing in it), and the
environment is keyed by a hash of the wheel's contents: unchanged code reuses the environment,
changed code gets a new one. Environments live under the tool cache (`app-venvs/<hash>/`); the
few most recent are kept.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import structlog

from deploy.config import ROOT

log = structlog.get_logger(__name__)

# Not part of the source a wheel is built from.
_NOT_SOURCE = (".git", ".venv", ".run", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis")
KEEP_ENVIRONMENTS = 3


def cache_dir() -> Path:
    """The tool cache of scripts/setup.sh."""
    if explicit := os.environ.get("RETURNS_CACHE"):
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "returns-on-temporal"


def build_wheel(out_dir: Path, source: Path = ROOT) -> Path:
    """`pip wheel --no-deps` of the work tree as it is now (uncommitted edits included)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="returns-wheel-") as scratch:
        tree = Path(scratch) / "src"
        shutil.copytree(source, tree, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
        _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out_dir), str(tree)])
    (wheel,) = out_dir.glob("*.whl")
    return wheel


def wheel_digest(wheel: Path) -> str:
    """Hash of the files inside the wheel, not of the zip (whose timestamps change with every build)."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            digest.update(name.encode() + b"\0" + archive.read(name) + b"\0")
    return digest.hexdigest()[:16]


def ensure_environment(wheel: Path) -> Path:
    """A virtual environment with the wheel and its dependencies installed; made once per wheel content."""
    root = cache_dir() / "app-venvs"
    root.mkdir(parents=True, exist_ok=True)
    venv = root / wheel_digest(wheel)
    done = venv / ".installed"
    with (root / ".lock").open("w") as lock:  # two test runs may install the same one at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(venv, ignore_errors=True)  # a half-made one (venvs can't be moved into place)
            log.info("installing the app's wheel into a new environment", venv=str(venv), wheel=wheel.name)
            _run([sys.executable, "-m", "venv", str(venv)])
            pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
            _run([*pip, "install", "--quiet", str(wheel)])
            done.write_text(wheel.name + "\n")
        done.touch()  # most recently used
        _prune(root, keep=venv)
    return venv


def _prune(root: Path, keep: Path) -> None:
    made = sorted(
        (path for path in root.iterdir() if (path / ".installed").exists()),
        key=lambda path: (path / ".installed").stat().st_mtime,
        reverse=True,
    )
    for old in made[KEEP_ENVIRONMENTS:]:
        if old != keep and not _in_use(old):
            shutil.rmtree(old, ignore_errors=True)


def _in_use(venv: Path) -> bool:
    """Whether a running process was started from this environment (another topology may be up)."""
    marker = str(venv).encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker in cmdline.read_bytes():
                return True
        except OSError:
            continue
    return False


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} ... failed ({result.returncode}): {result.stderr.strip()[-3000:]}")
