"""ReturnsClient: the Python door for storefront backends and warehouse apps.

    client = await ReturnsClient.connect()
    await client.start_return(request)           # idempotent on request.return_id
    status = await client.status("R-1001")
    await client.record_carrier_scan("R-1001", scan)
    await client.record_receipt("R-1001", receipt)
    await client.record_inspection("R-1001", report)
    await client.approve("R-1001", OperatorAction(actor="ops:kim", reason="known customer"))

Input is validated by the contract's pydantic models before anything reaches Temporal;
an action the return's current state can't take is refused with `ReturnStateError`
(operator actions by the workflow's own update validators, so nothing is written).
The return policy file (settings.return_policy_file) is read once per client and copied
into each return it starts.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from integrations.settings import Settings, get_settings
from integrations.temporal_client import connect
from workflows import rules
from workflows.models import (
    CLOSED_STAGES,
    Cancellation,
    CarrierScan,
    DeadlineExtension,
    DispositionOverride,
    InspectionReport,
    OperatorAction,
    ParcelReceipt,
    PaymentUpdate,
    ReturnRequest,
    ReturnStatus,
    Stage,
    StartReturn,
)
from workflows.policy import ReturnPolicy, load_policy
from workflows.return_workflow import ReturnWorkflow, workflow_id_for
from workflows.search_attributes import CUSTOMER_ID, ORDER_ID, RETURN_STAGE


class ReturnNotFoundError(LookupError):
    def __init__(self, return_id: str):
        super().__init__(f"no return with id {return_id!r}")
        self.return_id = return_id


class ReturnConflictError(RuntimeError):
    """A return with this id exists, started from a different request."""

    def __init__(self, return_id: str):
        super().__init__(f"return {return_id} already exists with a different request")
        self.return_id = return_id


class ReturnStateError(RuntimeError):
    """The return exists, but its current stage refuses this event."""

    def __init__(self, return_id: str, stage: Stage, message: str):
        super().__init__(f"return {return_id} is {stage.value}: {message}")
        self.return_id = return_id
        self.stage = stage


class ReturnsClient:
    def __init__(self, client: Client, settings: Settings, policy: ReturnPolicy | None = None):
        self._client = client
        self._settings = settings
        self._policy = policy or load_policy(settings.return_policy_file)

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

    @property
    def policy(self) -> ReturnPolicy:
        return self._policy

    async def start_return(self, request: ReturnRequest) -> str:
        """Starts the return's workflow, or finds the one already started; returns its id.

        The same request again is harmless (it reaches the same workflow); a different
        request under an existing return id raises `ReturnConflictError`.
        """
        workflow_id = workflow_id_for(request.return_id)
        try:
            await self._client.start_workflow(
                ReturnWorkflow.run,
                StartReturn(request=request, policy=self._policy),
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
        if await self._handle(return_id=request.return_id).query(ReturnWorkflow.request) != request:
            raise ReturnConflictError(request.return_id)
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

    async def record_receipt(self, return_id: str, receipt: ParcelReceipt) -> None:
        status = await self.status(return_id)
        if status.inspected_by is not None:
            raise ReturnStateError(return_id, status.stage, "the return was already inspected")
        unknown = {line.line_id for line in receipt.lines} - {line.line_id for line in status.lines}
        if unknown:
            raise ValueError(f"unknown line ids: {sorted(unknown)}")
        await self._signal_running(return_id, ReturnWorkflow.parcel_received, receipt)

    async def record_inspection(self, return_id: str, report: InspectionReport) -> None:
        status = await self.status(return_id)
        if not rules.is_at_or_past(status.stage, Stage.delivered):
            raise ReturnStateError(return_id, status.stage, "the parcel has not arrived yet")
        if status.inspected_by is not None:
            raise ReturnStateError(return_id, status.stage, "the return was already inspected")
        expected = sorted(line.line_id for line in status.lines if line.declined is None)
        if sorted(line.line_id for line in report.lines) != expected:
            raise ValueError(f"an inspection must grade each open line exactly once: {expected}")
        await self._signal_running(return_id, ReturnWorkflow.inspection_recorded, report)

    async def record_payment_update(self, return_id: str, update: PaymentUpdate) -> None:
        await self._signal_running(return_id, ReturnWorkflow.payment_update, update)

    # --- Operator actions (workflow updates with validators) -------------------------------

    async def approve(self, return_id: str, action: OperatorAction) -> ReturnStatus:
        return await self._update(return_id, ReturnWorkflow.approve, action)

    async def reject(self, return_id: str, action: OperatorAction) -> ReturnStatus:
        return await self._update(return_id, ReturnWorkflow.reject, action)

    async def cancel(self, return_id: str, cancellation: Cancellation) -> ReturnStatus:
        return await self._update(return_id, ReturnWorkflow.cancel, cancellation)

    async def retry(self, return_id: str, action: OperatorAction) -> ReturnStatus:
        return await self._update(return_id, ReturnWorkflow.retry, action)

    async def override_disposition(self, return_id: str, override: DispositionOverride) -> ReturnStatus:
        return await self._update(return_id, ReturnWorkflow.override_disposition, override)

    async def extend_deadline(self, return_id: str, extension: DeadlineExtension) -> ReturnStatus:
        return await self._update(return_id, ReturnWorkflow.extend_deadline, extension)

    async def wait_for_stage(
        self, return_id: str, stage: Stage, timeout: timedelta = timedelta(seconds=60)
    ) -> ReturnStatus:
        """Polls the status query until the return reaches `stage` or closes (demos and tests)."""
        deadline = asyncio.get_running_loop().time() + timeout.total_seconds()
        while True:
            status = await self.status(return_id)
            if rules.is_at_or_past(status.stage, stage) or status.stage in CLOSED_STAGES:
                return status
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"return {return_id} still {status.stage.value} after {timeout}")
            await asyncio.sleep(0.1)

    async def result(self, return_id: str) -> ReturnStatus:
        return await self._handle(return_id).result()

    def _handle(self, return_id: str) -> WorkflowHandle:
        return self._client.get_workflow_handle_for(ReturnWorkflow.run, workflow_id_for(return_id))

    async def _update(self, return_id: str, update, payload) -> ReturnStatus:
        handle = await self._running_handle(return_id)
        try:
            return await handle.execute_update(update, payload)
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == "InvalidState":
                status = await self.status(return_id)
                raise ReturnStateError(return_id, status.stage, cause.message) from error
            raise

    async def _signal_running(self, return_id: str, signal, payload) -> None:
        handle = await self._running_handle(return_id)
        await handle.signal(signal, payload)

    async def _running_handle(self, return_id: str) -> WorkflowHandle:
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
        return handle
