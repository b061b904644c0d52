"""A door never hangs on a return no worker serves: the call gives up after
TEMPORAL_RPC_TIMEOUT_SECONDS (the HTTP API answers 503, "try again")."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from devstack.checkout import demo_request
from starter.client import ReturnsClient
from starter.errors import ReturnUnavailableError
from tests.conftest import Sandboxes
from workflows.contract import workflow_id_for
from workflows.models import ParcelReceipt, ReceivedLine, StartReturn
from workflows.policy import ReturnPolicy
from workflows.return_workflow import ReturnWorkflow

TIMEOUT_SECONDS = 1.0


async def test_an_update_to_a_return_no_worker_serves_gives_up_in_time(
    time_skipping_env: WorkflowEnvironment, sandboxes: Sandboxes
) -> None:
    settings = sandboxes.settings(
        task_queue=f"nobody-polls-{uuid.uuid4().hex[:8]}", temporal_rpc_timeout_seconds=TIMEOUT_SECONDS
    )
    policy = ReturnPolicy(version="test-1")
    client = ReturnsClient(time_skipping_env.client, settings, policy=policy)
    request = demo_request(f"R-{uuid.uuid4().hex[:10]}", "pi_unused", "ORD-unused")
    await time_skipping_env.client.start_workflow(
        ReturnWorkflow.run,
        StartReturn(request=request, policy=policy),
        id=workflow_id_for(request.return_id),
        task_queue=settings.task_queue,
    )
    receipt = ParcelReceipt(receipt_id="P-1", received_by="dock-1", lines=[ReceivedLine(line_id="L1", quantity=1)])

    async with asyncio.timeout(TIMEOUT_SECONDS + 4):  # without the setting it would wait forever
        with pytest.raises(ReturnUnavailableError):
            await client.record_receipt(request.return_id, receipt)
        with pytest.raises(ReturnUnavailableError):
            await client.status(request.return_id)
