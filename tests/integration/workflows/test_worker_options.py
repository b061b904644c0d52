"""The worker's tuning settings: the happy path holds without the workflow sandbox and with a
sticky cache smaller than the returns in flight (every event then replays its return)."""

from __future__ import annotations

import uuid

import pytest
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from devstack.checkout import DEMO_GRADES
from integrations.settings import Settings
from tests.conftest import Sandboxes
from tests.integration.workflows.harness import Returns
from workflows.policy import ReturnPolicy
from workflows.vocabulary import Stage

POLICY = ReturnPolicy(version="test-1", return_shipping_fee=599)
CACHE = 2
IN_FLIGHT = 4


@pytest.fixture(scope="module")
def settings(sandboxes: Sandboxes) -> Settings:
    """This module's worker: no sandbox, a cache of two, on a task queue of its own."""
    return sandboxes.settings(
        task_queue=f"returns-lean-{uuid.uuid4().hex[:8]}", workflow_sandbox=False, worker_max_cached_workflows=CACHE
    )


async def test_the_lean_worker_is_what_the_settings_say(worker: Worker) -> None:
    config = worker.config()
    assert config["max_cached_workflows"] == CACHE
    assert isinstance(config["workflow_runner"], UnsandboxedWorkflowRunner)


async def test_unsandboxed_returns_evicted_between_events_refund_once_each(returns: Returns) -> None:
    started = [await returns.start(POLICY) for _ in range(IN_FLIGHT)]
    # Step by step across all of them: with two cached, each event finds its return evicted.
    for step in (returns.deliver, returns.receive):
        for client, return_id in started:
            await step(client, return_id)
    for client, return_id in started:
        await returns.inspect(client, return_id, DEMO_GRADES)
    finished = [await returns.finish(client, return_id) for client, return_id in started]

    assert [status.stage for status in finished] == [Stage.completed] * IN_FLIGHT
    refunds = [[r["amount"] for r in returns.refunds(return_id)] for _, return_id in started]
    assert refunds == [[2 * 2500 - 599]] * IN_FLIGHT
