"""Metrics and traces after a return carried through the API: the API's /metrics counts returns by stage
and times the doors; the worker's /metrics counts the refund and its amount, and a failed step by its
error type; the SDK's Prometheus endpoint answers; one trace runs from the door to the activities."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.system.deploy.drive import drive_return
from tests.system.ops.conftest import Collector, OpsStack, wait_for

pytestmark = pytest.mark.devserver

REFUND = 2 * 2500 - 599  # the demo return: two shirts, the return shipping fee kept


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _scrape(url: str) -> dict[tuple[str, frozenset], float]:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(url)
    assert answer.status_code == 200, answer.text
    return _samples(answer.text)


async def test_the_api_s_metrics_count_returns_by_stage_and_time_the_doors(
    ops: OpsStack, completed_return: str
) -> None:
    samples = await _scrape(f"{ops.stack.api_url}/metrics")
    assert samples[("returns_by_stage", frozenset({("stage", "completed")}))] >= 1
    assert samples[("returns_by_stage", frozenset({("stage", "cancelled")}))] == 0
    assert ("returns_needs_attention", frozenset()) in samples
    assert samples[("returns_visibility_up", frozenset())] == 1
    start = frozenset({("method", "POST"), ("route", "/v1/returns"), ("status", "201")})
    assert samples[("returns_api_request_duration_seconds_count", start)] >= 1
    receipts = frozenset({("method", "POST"), ("route", "/v1/returns/{return_id}/receipts"), ("status", "202")})
    assert any(name == "returns_api_request_duration_seconds_count" and labels == receipts for name, labels in samples)


async def test_the_worker_s_metrics_count_the_refund_and_a_failed_step(ops: OpsStack, completed_return: str) -> None:
    samples = await _scrape(f"{ops.worker_url}/metrics")
    assert samples[("returns_refunds_issued_total", frozenset({("currency", "USD")}))] == 1
    assert samples[("returns_refunded_minor_units_total", frozenset({("currency", "USD")}))] == REFUND

    # Stripe fails the next refund attempt (beyond the SDK's own retries): one failed step, then it pays.
    fault = {"method": "POST", "path": "/v1/refunds", "status": 500, "times": 3}
    async with httpx.AsyncClient(timeout=10) as http:
        (await http.post(f"{ops.stack.sandbox_url('stripe')}/_sandbox/faults", json=fault)).raise_for_status()
    await drive_return(ops.stack.settings, ops.stack.api_url, "OPS-2")
    samples = await _scrape(f"{ops.worker_url}/metrics")
    failures = {
        dict(labels)["error_type"]: value
        for (name, labels), value in samples.items()
        if name == "returns_step_failures_total" and dict(labels)["activity"] == "refund_what_is_left"
    }
    assert failures and all(kind.startswith("stripe.") for kind in failures), failures
    assert samples[("returns_refunds_issued_total", frozenset({("currency", "USD")}))] == 2
    assert samples[("returns_refunded_minor_units_total", frozenset({("currency", "USD")}))] == 2 * REFUND


async def test_the_sdk_s_own_metrics_are_exported_by_the_worker(ops: OpsStack, completed_return: str) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"http://127.0.0.1:{ops.worker_metrics_port}/metrics")).text
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"temporal_workflow_completed", "temporal_activity_execution_latency"} & names, sorted(names)[:20]


async def test_one_trace_runs_from_the_door_to_the_activities(
    ops: OpsStack, collector: Collector, completed_return: str
) -> None:
    async def traced() -> list | None:
        doors = [s for s in collector.spans if s.service == "returns-api" and s.name == "POST /v1/returns"]
        for door in doors:
            trace = [s for s in collector.spans if s.trace_id == door.trace_id]
            names = {(s.service, s.name.split(":")[0]) for s in trace}
            if {("returns-worker", "RunWorkflow"), ("returns-worker", "RunActivity")} <= names:
                return trace
        return None

    trace = await wait_for(traced, "the door's trace reaching the worker's activities", timeout=30)
    by_id = {span.span_id: span for span in trace}
    names = {span.name for span in trace}
    assert {"StartWorkflow:ReturnWorkflow", "RunWorkflow:ReturnWorkflow", "RunActivity:refund_what_is_left"} <= names
    refund = next(span for span in trace if span.name == "RunActivity:refund_what_is_left")
    ancestry = []
    span = refund
    while span.parent_id in by_id:  # the refund's chain of parents leads back to the door
        span = by_id[span.parent_id]
        ancestry.append(span.name)
    # The workflow's own commands hang off the start that created it (the run is their sibling).
    assert ancestry[0] == "StartActivity:refund_what_is_left" and "StartWorkflow:ReturnWorkflow" in ancestry, ancestry
    assert ancestry[-1] == "POST /v1/returns" and by_id[refund.span_id].service == "returns-worker", ancestry
