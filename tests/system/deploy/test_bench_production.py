"""`python -m bench --server production --quick`: the throughput phase on deploy/'s topology (Temporal on
PostgreSQL, its own state directory), every variant measured, the ratios to the baseline and one worker
against two computed. A harness check: nothing here asserts a timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import parse_config
from bench.config import VARIANTS

pytestmark = pytest.mark.production
pytest.importorskip("psutil", reason="the benchmark needs the bench extra: pip install -e '.[bench]'")

ROOT = Path(__file__).resolve().parents[3]


def test_production_mode_runs_the_throughput_phase_only() -> None:
    assert parse_config(["--server", "production"]).phases == ("throughput",)
    with pytest.raises(SystemExit):
        parse_config(["--server", "production", "--phases", "footprint"])


def test_a_quick_run_on_postgresql_measures_every_variant(tmp_path: Path, production_tools: object) -> None:
    output = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--server", "production", "--quick", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert run.returncode == 0, f"{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    results = json.loads(output.read_text())
    assert results["config"]["server"] == "production" and "footprint" not in results
    variants = results["throughput"]["variants"]
    assert list(variants) == list(VARIANTS)
    assert all(variant["returns_per_s"] > 0 and variant["vs_baseline"] for variant in variants.values())
    assert results["throughput"]["scale_out"] > 0
    assert variants["real"]["cpu_ms_per_return"]["server"] > 0  # the PostgreSQL-backed server was measured
