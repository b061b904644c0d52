"""`python -m chaos fuzz --quick`: a few hundred invalid requests (schemathesis and the hand-written
hostile set) against a real stack, each refused with a precise 4xx, none starting or changing a return.
The full 10,000 is `make chaos-fuzz`."""

from __future__ import annotations

import json

import pytest

from tests.system.chaos.quick_run import run_quick

pytestmark = pytest.mark.devserver


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    run, results = run_quick("fuzz", tmp_path_factory.mktemp("fuzz") / "fuzz.json", timeout=900)
    assert run.returncode == 0, json.dumps(results["failures"][:20], indent=2)
    return results


def test_every_invalid_request_is_refused_precisely(results: dict) -> None:
    assert results["requests"] >= 600
    assert results["refused_precisely"] == results["requests"]
    assert results["answered_5xx"] == results["answered_2xx"] == 0
    assert results["failures"] == []


def test_no_invalid_request_started_or_changed_a_return(results: dict) -> None:
    assert results["workflows_started"] == 0
    assert results["existing_return_history_events_added"] == 0


def test_both_sources_reach_every_route_and_both_webhooks(results: dict) -> None:
    assert set(results["by_source"]) == {"schemathesis", "hand-written"}
    routes = " ".join(results["by_route"])
    for route in (
        "/v1/returns",
        "/v1/eligibility",
        "receipts",
        "inspection",
        "shippo",
        "stripe",
        "deadline-extensions",
    ):
        assert route in routes
