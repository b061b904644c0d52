"""ReturnsClient: the Python door for storefront backends and warehouse apps.

    client = await ReturnsClient.connect()
    await client.start_return(request)           # idempotent on request.return_id
    status = await client.status("R-1001")
    await client.record_carrier_scan("R-1001", scan)
    await client.record_inspection("R-1001", report)

Input is validated by the contract's pydantic models before anything reaches Temporal;
events the return's current state can't take are refused here with `ReturnStateError`.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from integrations.settings import Settings, get_settings
from integrations.temporal_client import connect
from workflows import rules
from workflows.models import CarrierScan, InspectionReport, ReturnRequest, ReturnStatus, Stage
from workflows.return_workflow import ReturnWorkflow, workflow_id_for
from workflows.search_attributes import CUSTOMER_ID, ORDER_ID, RETURN_STAGE


class ReturnNotFoundError(LookupError):
    def __init__(self, return_id: str):
        super().__init__(f"no return with id {return_id!r}")
        self.return_id = return_id


class ReturnStateError(RuntimeError):
    """The return exists, but its current stage refuses this event."""

    def __init__(self, return_id: str, stage: Stage, message: str):
        super().__init__(f"return {return_id} is {stage.value}: {message}")
        self.return_id = return_id
        self.stage = stage


class ReturnsClient:
    def __init__(self, client: Client, settings: Settings):
        self._client = client
        self._settings = settings

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> ReturnsClient:
        settings = settings or get_settings()
        return cls(await connect(settings), settings)

    @property
    def temporal(self) -> Client:
        return self._client

    @property
    def settings(self) -> Settings:
        return self._settings

    async def start_return(self, request: ReturnRequest) -> str:
        """Starts the return's workflow, or finds the one already started; returns its id."""
        workflow_id = workflow_id_for(request.return_id)
        try:
            await self._client.start_workflow(
                ReturnWorkflow.run,
                request,
                id=workflow_id,
                task_queue=self._settings.task_queue,
                # Running: attach to it. Finished: never start the same return again.
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(RETURN_STAGE, Stage.requested.value),
                        SearchAttributePair(ORDER_ID, request.order_id),
                        SearchAttributePair(CUSTOMER_ID, request.customer_id),
                    ]
                ),
            )
        except WorkflowAlreadyStartedError:
            pass  # it ran to its end already: the same return, not a new one
        return workflow_id

    async def status(self, return_id: str) -> ReturnStatus:
        try:
            return await self._handle(return_id).query(ReturnWorkflow.status)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise ReturnNotFoundError(return_id) from error
            raise

    async def record_carrier_scan(self, return_id: str, scan: CarrierScan) -> None:
        await self._signal_running(return_id, ReturnWorkflow.carrier_scan, scan)

    async def record_inspection(self, return_id: str, report: InspectionReport) -> None:
        status = await self.status(return_id)
        if not rules.is_at_or_past(status.stage, Stage.delivered):
            raise ReturnStateError(return_id, status.stage, "the parcel has not been delivered yet")
        if status.inspected_by is not None:
            raise ReturnStateError(return_id, status.stage, "the return was already inspected")
        expected = sorted(line.line_id for line in status.lines)
        if sorted(line.line_id for line in report.lines) != expected:
            raise ValueError(f"an inspection must grade each line exactly once: {expected}")
        await self._signal_running(return_id, ReturnWorkflow.inspection_recorded, report)

    async def wait_for_stage(self, return_id: str, stage: Stage, timeout: timedelta = timedelta(seconds=60)) -> ReturnStatus:
        """Polls the status query until the return reaches `stage` (for demos and tests)."""
        deadline = asyncio.get_running_loop().time() + timeout.total_seconds()
        while True:
            status = await self.status(return_id)
            if rules.is_at_or_past(status.stage, stage):
                return status
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"return {return_id} still {status.stage.value} after {timeout}")
            await asyncio.sleep(0.1)

    async def result(self, return_id: str) -> ReturnStatus:
        return await self._handle(return_id).result()

    def _handle(self, return_id: str) -> WorkflowHandle:
        return self._client.get_workflow_handle_for(ReturnWorkflow.run, workflow_id_for(return_id))

    async def _signal_running(self, return_id: str, signal, payload) -> None:
        handle = self._handle(return_id)
        try:
            description = await handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise ReturnNotFoundError(return_id) from error
            raise
        if description.status != WorkflowExecutionStatus.RUNNING:
            status = await self.status(return_id)
            raise ReturnStateError(return_id, status.stage, "the return is closed")
        await handle.signal(signal, payload)
