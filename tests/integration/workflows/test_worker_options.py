"""The worker's tuning settings: the happy path holds in production's shared sandbox (our workflow
modules passed through) and without the sandbox, with a sticky cache smaller than the returns in
flight (every event then replays its return). The rest of the suite runs the strict sandbox."""

from __future__ import annotations

import uuid

import pytest
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from devstack.checkout import DEMO_GRADES
from integrations.settings import Settings
from tests.conftest import Sandboxes
from tests.integration.workflows.harness import Returns
from workflows.policy import ReturnPolicy
from workflows.vocabulary import Stage

POLICY = ReturnPolicy(version="test-1", return_shipping_fee=599)
CACHE = 2
IN_FLIGHT = 4


RUNNERS = {
    "shared-sandbox": ({"workflow_sandbox_strict": False}, SandboxedWorkflowRunner),
    "unsandboxed": ({"workflow_sandbox": False}, UnsandboxedWorkflowRunner),
}


@pytest.fixture(scope="module", params=list(RUNNERS))
def runner(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def settings(sandboxes: Sandboxes, runner: str) -> Settings:
    """This module's worker: production's sandbox or none, a cache of two, on a task queue of its own."""
    return sandboxes.settings(
        task_queue=f"returns-lean-{uuid.uuid4().hex[:8]}", worker_max_cached_workflows=CACHE, **RUNNERS[runner][0]
    )


async def test_the_lean_worker_is_what_the_settings_say(worker: Worker, runner: str) -> None:
    config = worker.config()
    assert config["max_cached_workflows"] == CACHE
    assert type(config["workflow_runner"]) is RUNNERS[runner][1]
    if runner == "shared-sandbox":
        assert "workflows" in config["workflow_runner"].restrictions.passthrough_modules


async def test_returns_evicted_between_events_refund_once_each(harness: Returns) -> None:
    started = [await harness.start(POLICY) for _ in range(IN_FLIGHT)]
    # Step by step across all of them: with two cached, each event finds its return evicted.
    for step in (harness.deliver, harness.receive):
        for client, return_id in started:
            await step(client, return_id)
    for client, return_id in started:
        await harness.inspect(client, return_id, DEMO_GRADES)
    finished = [await harness.finish(client, return_id) for client, return_id in started]

    assert [status.stage for status in finished] == [Stage.completed] * IN_FLIGHT
    refunds = [[r["amount"] for r in harness.refunds(return_id)] for _, return_id in started]
    assert refunds == [[2 * 2500 - 599]] * IN_FLIGHT
