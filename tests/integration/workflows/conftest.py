"""Fixtures of the workflow tests: `returns` drives returns on the module's time-skipping
server and worker, and cleans the sandboxes' faults up after each test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integrations.settings import Settings
from tests.conftest import Sandboxes
from tests.integration.workflows.harness import Returns, record_histories


@pytest.fixture
async def harness(
    time_skipping_env: WorkflowEnvironment,
    sandboxes: Sandboxes,
    settings: Settings,
    worker: Worker,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Returns]:
    harness = Returns(time_skipping_env, sandboxes, settings)
    yield harness
    for vendor in ("stripe", "shippo", "shop"):
        sandboxes.clear_faults(vendor)
    if os.environ.get("RECORD_HISTORIES"):
        await record_histories(harness, request.node.name)
