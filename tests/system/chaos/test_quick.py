"""`python -m chaos run --quick` drives a few dozen returns through every fault kind and audits them.

It proves the harness and, because the run exits 1 when an invariant breaks, it also fails on a
lost return, a second refund or label, a wrong amount or a leaked reservation. Timings mean nothing
here: nothing asserts one.
"""

from __future__ import annotations

import json

import pytest

from chaos.context import QUICK
from chaos.faults import PROCESS_FAULTS, VENDOR_FAULTS
from chaos.scenarios import KINDS
from tests.system.chaos.quick_run import run_quick

pytestmark = pytest.mark.devserver


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    run, results = run_quick("run", tmp_path_factory.mktemp("chaos") / "results.json", timeout=1500)
    assert run.returncode == 0, json.dumps(
        {key: results[key] for key in ("headline", "violations", "journeys", "failures")}, indent=2
    )
    assert "headline" in run.stdout and "fault injected" in run.stdout
    return results


def test_every_return_ends_as_the_rules_say_with_nothing_lost_or_paid_twice(results: dict) -> None:
    assert results["returns"] == QUICK.returns
    assert results["violations"] == []
    assert set(results["headline"].values()) == {0}
    assert results["journeys"]["finished"] == QUICK.returns
    assert results["workflows"] == QUICK.returns


def test_every_kind_of_return_and_every_fault_kind_was_there(results: dict) -> None:
    assert set(results["kinds"]) == set(KINDS)
    assert set(results["faults"]["injected"]) == set(VENDOR_FAULTS) | set(PROCESS_FAULTS)
    assert results["callers"]["held_deliveries_sent_with_no_worker"] > 0
    assert {"in_order", "reordered"} <= set(results["deliveries"]["scans"])


def test_every_503_said_when_to_come_back(results: dict) -> None:
    assert results["callers"]["503_without_retry_after"] == {}
    for route, figures in results["routes"].items():
        assert set(figures["statuses"]) <= {"200", "201", "202", "409", "503", "connection_error"}, route
