"""`python -m chaos load --quick`: 20 returns at once through every route; the harness records each
route's percentiles and proves every answer was a success, a 409 or a 503 with Retry-After. The
figures are for docs/reliability.md (`make chaos-load`, 200 returns), never asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.system.chaos.quick_run import run_quick

pytestmark = pytest.mark.devserver

ROOT = Path(__file__).resolve().parents[3]
ROUTES = {
    "POST /v1/eligibility",
    "POST /v1/returns",
    "GET /v1/returns",
    "GET /v1/returns/{id}",
    "GET /v1/returns/{id}/timeline",
    "POST /v1/returns/{id}/approve",
    "POST /v1/returns/{id}/reject",
    "POST /v1/returns/{id}/retry",
    "POST /v1/returns/{id}/cancel",
    "POST /v1/returns/{id}/deadline-extensions",
    "POST /v1/returns/{id}/disposition-overrides",
    "POST /v1/returns/{id}/receipts",
    "POST /v1/returns/{id}/inspection",
    "POST /v1/returns/{id}/disposition-confirmations",
    "POST /v1/webhooks/shippo",
    "POST /v1/webhooks/stripe",
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    run, results = run_quick("load", tmp_path_factory.mktemp("load") / "load.json", timeout=900)
    assert run.returncode == 0, json.dumps(results.get("errors"), indent=2)
    return results


def test_every_route_was_measured_with_percentiles(results: dict) -> None:
    assert set(results["routes"]) == ROUTES
    for figures in results["routes"].values():
        assert figures["n"] > 0 and figures["p50"] <= figures["p95"] <= figures["p99"] <= figures["max"]


def test_no_answer_was_an_error_or_an_undocumented_503(results: dict) -> None:
    assert results["errors"] == {}
    assert results["503_without_retry_after"] == {}


def test_the_returns_reached_their_ends(results: dict) -> None:
    assert results["final_stages"] == {"completed": 18, "declined": 1, "cancelled": 1}
