"""Runs one `python -m chaos <command> --quick` as a subprocess, as `make chaos*` would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run_quick(command: str, output: Path, timeout: float) -> tuple[subprocess.CompletedProcess[str], dict]:
    """The finished command (exit code, what it printed) and the results it wrote (asserts it wrote them)."""
    run = subprocess.run(
        [sys.executable, "-m", "chaos", command, "--quick", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert output.exists(), f"{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    return run, json.loads(output.read_text())
