"""`python -m bench --quick` runs every phase end to end and writes well-formed results.

It proves the harness works; what it measures in a few seconds means nothing, so nothing
here asserts a timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.config import FOOTPRINT_VARIANTS, PHASES, QUICK, VARIANTS

pytestmark = pytest.mark.devserver
pytest.importorskip("psutil", reason="the benchmark needs the bench extra: pip install -e '.[bench]'")

ROOT = Path(__file__).resolve().parents[3]
PERCENTILES = {"n", "p50", "p95", "p99", "max"}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    output = tmp_path_factory.mktemp("bench") / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, f"{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    assert "Throughput" in run.stdout and "Footprint" in run.stdout
    return json.loads(output.read_text())


def test_results_describe_the_run_and_every_phase(results: dict) -> None:
    assert set(PHASES) <= results.keys()
    assert results["machine"]["nproc"] >= 1
    assert results["config"]["returns"] == QUICK.returns


def test_throughput_has_every_variant_with_ratios_and_cpu(results: dict) -> None:
    variants = results["throughput"]["variants"]
    assert list(variants) == list(VARIANTS)
    for variant in variants.values():
        assert variant["returns_per_s"] > 0
        assert isinstance(variant["vs_baseline"], float)
        assert set(variant["cpu_ms_per_return"]) == {"worker", "server", "sandboxes", "driver"}
    assert variants["baseline"]["vs_baseline"] == 1.0
    assert isinstance(results["throughput"]["scale_out"], float)


def test_latency_has_percentiles_for_starts_and_events(results: dict) -> None:
    latency = results["latency"]
    for key in ("start_ms", "event_to_visible_ms"):
        assert len(latency[key]) == 4  # baseline, real raw, ReturnsClient, HTTP API
        for percentiles in latency[key].values():
            assert set(percentiles) == PERCENTILES
    # four visible events per return: two scans, the receipt, the inspection
    assert all(p["n"] == 4 * QUICK.latency_samples for p in latency["event_to_visible_ms"].values())


def test_history_runs_every_branch_to_its_end(results: dict) -> None:
    history = results["history"]
    stages = {branch: h["final_stage"] for branch, h in history.items()}
    assert stages == {
        "baseline happy path": "completed",
        "happy path": "completed",
        "partial receipt": "completed",
        "expired": "expired",
        "keep it": "completed",
    }
    for h in history.values():
        assert h["events"] == sum(h["event_types"].values())
        assert h["bytes"] > 0


def test_footprint_reads_memory_at_every_level_for_both_caches(results: dict) -> None:
    footprint = results["footprint"]
    assert list(footprint) == list(FOOTPRINT_VARIANTS)
    for variant in footprint.values():
        for cache in ("cached", "evicting"):
            levels = [int(n) for n in variant[cache]["rss_mib"]]
            assert levels == [QUICK.warmup, *QUICK.open_levels]
            assert variant[cache]["signals_per_s"] > 0
        assert variant["evicting"]["max_cached_workflows"] < QUICK.open_levels[0]
