"""ReturnsClient: the one implementation behind every door (Python library, HTTP API, returnsctl).

    client = await ReturnsClient.connect()
    await client.check_eligibility(request)      # no side effects: nothing is started
    await client.start(request)                  # idempotent on request.return_id
    status = await client.status("R-1001")
    await client.record_receipt("R-1001", receipt)
    await client.record_inspection("R-1001", report)
    await client.approve("R-1001", OperatorAction(actor=actor_id("operator", "kim"), reason="known customer"))
    page = await client.list_returns(ReturnFilter(needs_attention=True))

Input is validated by the contract's pydantic models before anything reaches Temporal;
input that is well-formed but does not fit the return (an unknown line id) raises
`InvalidReturnInput`; an action the return's current state can't take is refused with
`ReturnStateError` (by the workflow's own update validators, so nothing is written). Every
error a door can show is in starter/errors.py. The return policy is read where a return
starts (or its eligibility is checked), once per client, and copied into each return.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from integrations.errors import IntegrationError
from integrations.settings import Settings, get_settings
from integrations.temporal_client import connect
from starter.eligibility import Eligibility, EligibilityCheck
from starter.errors import (
    InvalidReturnInput,
    ReturnConflictError,
    ReturnNotFoundError,
    ReturnStateError,
    ReturnUnavailableError,
)
from starter.policy import load_return_policy
from starter.visibility import (
    ReturnFilter,
    ReturnPage,
    decode_page_token,
    encode_page_token,
    scoped,
    summary_of,
    tracking_number_query,
)
from workflows.contract import (
    INVALID_INPUT,
    INVALID_STATE,
    ORDER_NOT_FOUND,
    REFUND_RETURN_ID_METADATA,
    UNAVAILABLE,
    return_id_from_label_metadata,
    workflow_id_for,
)
from workflows.models import (
    Acknowledgement,
    Cancellation,
    CarrierScan,
    DeadlineExtension,
    DispositionConfirmation,
    DispositionOverride,
    InspectionReport,
    OperatorAction,
    ParcelReceipt,
    PaymentUpdate,
    ReturnRequest,
    ReturnStatus,
    StartReturn,
    TimelineEntry,
)
from workflows.policy import ReturnPolicy
from workflows.return_workflow import ReturnWorkflow
from workflows.search_attributes import CUSTOMER_ID, ORDER_ID, RETURN_STAGE
from workflows.vocabulary import CLOSED_STAGES, RefundState, Stage, TrackingStatus

if TYPE_CHECKING:  # the vendors' SDKs are slow to import; returnsctl needs neither
    from integrations.shippo_webhooks import TrackUpdate
    from integrations.shop import ShopPlatform
    from integrations.stripe_webhooks import StripeRefundEvent

# Who acted, as the timeline shows it: `<role>:<name>`, within the contract's 64 characters.
ActorName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,47}$")]
T = TypeVar("T")
# How a call that ran past its rpc_timeout comes back from the SDK's core.
_TIMED_OUT = frozenset({RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED})


def actor_id(role: str, name: str) -> str:
    """How the timeline names who acted: `operator:kim`, `warehouse:dock-7`."""
    return f"{role}:{name}"


# --- What the client answers besides the workflow's own models ------------------------------


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class DeliveryOutcome(StrEnum):
    signalled = "signalled"
    unknown_return = "unknown_return"  # not a parcel or refund of ours: nothing to do
    return_closed = "return_closed"  # too late to matter
    ignored = "ignored"  # an event that is not about a return


class EventDelivery(_Answer):
    """What became of a vendor's event; every outcome is final, so the vendor need not retry."""

    outcome: DeliveryOutcome
    return_id: str | None = None


@dataclass(frozen=True)
class StartedReturn:
    workflow_id: str
    created: bool  # False: an earlier call with the same request had started it


class ReturnsClient:
    def __init__(
        self,
        client: Client,
        settings: Settings,
        policy: ReturnPolicy | None = None,
        shop: ShopPlatform | None = None,
    ):
        self._client = client
        self._settings = settings
        self._rpc_timeout = timedelta(seconds=settings.temporal_rpc_timeout_seconds)
        self._policy = policy
        self._shop = shop

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> ReturnsClient:
        settings = settings or get_settings()
        return cls(await connect(settings), settings)

    async def aclose(self) -> None:
        if self._shop is not None:
            await self._shop.aclose()

    @property
    def temporal(self) -> Client:
        return self._client

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def policy(self) -> ReturnPolicy:
        """The policy new returns start with (RETURN_POLICY_FILE, else the one shipped with the package)."""
        if self._policy is None:
            self._policy = load_return_policy(self._settings.return_policy_file)
        return self._policy

    # --- Storefront ---------------------------------------------------------------------------

    async def check_eligibility(self, request: ReturnRequest) -> Eligibility:
        """What the return would decide about each line if started now; starts nothing."""
        return await EligibilityCheck(self._shop_platform(), self.policy).of(request, datetime.now(UTC))

    async def start(self, request: ReturnRequest) -> StartedReturn:
        """Starts the return's workflow, or finds the one this same request started before.

        A different request under an existing return id raises `ReturnConflictError`. The doors call
        `ensure_order_known` first; the workflow itself declines an order the shop does not know.
        """
        workflow_id = workflow_id_for(request.return_id)
        try:
            await self._client.start_workflow(
                ReturnWorkflow.run,
                StartReturn(request=request, policy=self.policy),
                id=workflow_id,
                task_queue=self._settings.task_queue,
                # Fail rather than attach: the server then tells us, atomically, whether this
                # call created the return. Finished returns are never started again.
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
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
            if await self._handle(request.return_id).query(ReturnWorkflow.request) != request:
                raise ReturnConflictError(request.return_id) from None
            return StartedReturn(workflow_id, created=False)
        return StartedReturn(workflow_id, created=True)

    async def ensure_order_known(self, request: ReturnRequest) -> None:
        """Refuses (`InvalidReturnInput`, nothing started) a return of an order the shop platform does not
        know: its workflow would only decline it. The HTTP API and `returns-start` ask before `start`; a
        return already started for it (the order went away since) is let through to answer as before.
        The shop platform not answering is `ReturnUnavailableError` (try again)."""
        try:
            await self._shop_platform().load_order(request.order_id)
        except IntegrationError as error:
            if error.retryable:
                raise ReturnUnavailableError(request.return_id) from error
            if error.code != ORDER_NOT_FOUND:
                raise
            try:
                await self._handle(request.return_id).describe(rpc_timeout=self._rpc_timeout)
            except RPCError as missing:
                if missing.status == RPCStatusCode.NOT_FOUND:
                    raise InvalidReturnInput("order_id", f"unknown order {request.order_id}") from error
                raise

    def _shop_platform(self) -> ShopPlatform:
        if self._shop is None:
            from integrations.shop import ShopPlatform  # only eligibility and starts ask the shop directly

            self._shop = ShopPlatform(self._settings)
        return self._shop

    async def status(self, return_id: str) -> ReturnStatus:
        return await self._query(return_id, ReturnWorkflow.status)

    async def timeline(self, return_id: str) -> list[TimelineEntry]:
        return await self._query(return_id, ReturnWorkflow.timeline)

    async def result(self, return_id: str) -> ReturnStatus:
        """Waits for the return's workflow to end; its final status."""
        return await self._handle(return_id).result()

    # --- Listing (Temporal visibility) --------------------------------------------------------

    async def list_returns(
        self, filters: ReturnFilter, *, page_size: int = 50, page_token: str | None = None
    ) -> ReturnPage:
        return await self.search_returns(
            filters.visibility_query(datetime.now(UTC)), page_size=page_size, page_token=page_token
        )

    async def search_returns(self, query: str, *, page_size: int = 50, page_token: str | None = None) -> ReturnPage:
        """One page of returns matching a visibility query over our search attributes."""
        executions = self._client.list_workflows(
            scoped(query), page_size=page_size, next_page_token=decode_page_token(page_token)
        )
        try:
            await executions.fetch_next_page()
        except RPCError as error:
            if error.status == RPCStatusCode.INVALID_ARGUMENT:
                raise InvalidReturnInput("page_token" if page_token else "query", error.message) from error
            raise
        token = executions.next_page_token
        return ReturnPage(
            returns=[summary_of(execution) for execution in executions.current_page or []],
            next_page_token=encode_page_token(token) if token else None,
        )

    async def find_return_by_tracking_number(self, tracking_number: str) -> str | None:
        query = tracking_number_query(tracking_number)
        page = await self.search_returns(query, page_size=1) if query else None
        return page.returns[0].return_id if page and page.returns else None

    # --- Events: carrier, warehouse, payments ------------------------------------------------

    async def record_carrier_scan(self, return_id: str, scan: CarrierScan) -> None:
        await self._signal(return_id, ReturnWorkflow.carrier_scan, scan)

    async def record_receipt(self, return_id: str, receipt: ParcelReceipt) -> None:
        """Checked by the workflow before it is written: unknown lines or an inspected return are refused."""
        await self._update(return_id, ReturnWorkflow.record_receipt, receipt)

    async def record_inspection(self, return_id: str, report: InspectionReport) -> None:
        """Checked by the workflow before it is written: one grade per open line, once."""
        await self._update(return_id, ReturnWorkflow.record_inspection, report)

    async def confirm_disposition(self, return_id: str, confirmation: DispositionConfirmation) -> Acknowledgement:
        """The warehouse confirms a line's disposition work is done (refurbished, shipped to the liquidator...);
        the return records it and tells the shop platform. A repeated confirmation is accepted once."""
        try:
            return await self._update(return_id, ReturnWorkflow.confirm_disposition, confirmation)
        except ReturnStateError as refused:
            # The last confirmation closes the return, so its repeat (its answer was lost, the handheld
            # sends it again) finds it closed: answered as the first was, when that line is confirmed.
            if refused.stage not in CLOSED_STAGES:
                raise
            status = await self.status(return_id)
            line = next((line for line in status.lines if line.line_id == confirmation.line_id), None)
            if line is None or line.disposition_confirmed_by is None:
                raise
            return Acknowledgement(return_id=return_id, action="confirm_disposition", stage=status.stage)

    async def record_payment_update(self, return_id: str, update: PaymentUpdate) -> None:
        await self._signal(return_id, ReturnWorkflow.payment_update, update)

    async def deliver_track_update(self, update: TrackUpdate) -> EventDelivery:
        """Routes a Shippo tracking event to its return: by the label's metadata, else by tracking number."""
        return_id = return_id_from_label_metadata(update.metadata)
        return_id = return_id or await self.find_return_by_tracking_number(update.tracking_number)
        if return_id is None:
            return EventDelivery(outcome=DeliveryOutcome.unknown_return)
        scan = CarrierScan(
            event_id=update.event_id,
            status=TrackingStatus(update.status),
            occurred_at=update.occurred_at,
            substatus=update.substatus,
            location=update.location,
        )
        return await self._deliver(return_id, self.record_carrier_scan(return_id, scan))

    async def deliver_refund_event(self, event: StripeRefundEvent) -> EventDelivery:
        """Routes a Stripe refund event to the return its refund's metadata names."""
        refund = event.refund
        return_id = refund.metadata.get(REFUND_RETURN_ID_METADATA)
        if return_id is None:  # a refund made outside this system
            return EventDelivery(outcome=DeliveryOutcome.ignored)
        update = PaymentUpdate(
            refund_id=refund.refund_id, status=RefundState(refund.status), failure_reason=refund.failure_reason
        )
        return await self._deliver(return_id, self.record_payment_update(return_id, update))

    # --- Operator and shopper actions (workflow updates with validators) -------------------------

    async def approve(self, return_id: str, action: OperatorAction) -> Acknowledgement:
        return await self._update(return_id, ReturnWorkflow.approve, action)

    async def reject(self, return_id: str, action: OperatorAction) -> Acknowledgement:
        return await self._update(return_id, ReturnWorkflow.reject, action)

    async def cancel(self, return_id: str, cancellation: Cancellation) -> Acknowledgement:
        return await self._update(return_id, ReturnWorkflow.cancel, cancellation)

    async def retry(self, return_id: str, action: OperatorAction) -> Acknowledgement:
        return await self._update(return_id, ReturnWorkflow.retry, action)

    async def override_disposition(self, return_id: str, override: DispositionOverride) -> Acknowledgement:
        return await self._update(return_id, ReturnWorkflow.override_disposition, override)

    async def extend_deadline(self, return_id: str, extension: DeadlineExtension) -> Acknowledgement:
        return await self._update(return_id, ReturnWorkflow.extend_deadline, extension)

    # --- Talking to the workflow; every failure becomes a door's error here -----------------------

    def _handle(self, return_id: str) -> WorkflowHandle[ReturnWorkflow, ReturnStatus]:
        return self._client.get_workflow_handle_for(ReturnWorkflow.run, workflow_id_for(return_id))

    async def _query(self, return_id: str, query: Callable[[ReturnWorkflow], T]) -> T:
        try:
            return await self._handle(return_id).query(query, rpc_timeout=self._rpc_timeout)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise ReturnNotFoundError(return_id) from error
            if error.status in _TIMED_OUT:
                raise ReturnUnavailableError(return_id) from error
            raise

    async def _update(self, return_id: str, update: Any, payload: Any) -> Any:
        try:
            return await self._handle(return_id).execute_update(update, payload, rpc_timeout=self._rpc_timeout)
        except RPCError as error:
            raise await self._why_not_running(return_id, error) from error
        except RPCTimeoutOrCancelledError as error:
            raise ReturnUnavailableError(return_id) from error
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == INVALID_INPUT:
                field = cause.details[0] if cause.details else "body"
                raise InvalidReturnInput(str(field), cause.message) from error
            if isinstance(cause, ApplicationError) and cause.type == INVALID_STATE:
                status = await self.status(return_id)
                raise ReturnStateError(return_id, status.stage, cause.message) from error
            if isinstance(cause, ApplicationError) and cause.type == UNAVAILABLE:
                raise ReturnUnavailableError(return_id) from error
            raise

    async def _signal(self, return_id: str, signal: Any, payload: Any) -> None:
        try:
            await self._handle(return_id).signal(signal, payload, rpc_timeout=self._rpc_timeout)
        except RPCError as error:
            raise await self._why_not_running(return_id, error) from error

    async def _deliver(self, return_id: str, send: Awaitable[None]) -> EventDelivery:
        try:
            await send
        except ReturnNotFoundError:
            return EventDelivery(outcome=DeliveryOutcome.unknown_return, return_id=return_id)
        except ReturnStateError:
            return EventDelivery(outcome=DeliveryOutcome.return_closed, return_id=return_id)
        return EventDelivery(outcome=DeliveryOutcome.signalled, return_id=return_id)

    async def _why_not_running(self, return_id: str, error: RPCError) -> Exception:
        """The error a door should show for a refused signal or update.

        Messages go straight to the workflow (no describe first: one RPC per event); only
        when the server refuses one do we look at why: no such return, or a closed one.
        """
        if error.status in _TIMED_OUT:
            return ReturnUnavailableError(return_id)
        if error.status != RPCStatusCode.NOT_FOUND:
            return error
        try:
            described = await self._handle(return_id).describe(rpc_timeout=self._rpc_timeout)
        except RPCError as missing:
            if missing.status == RPCStatusCode.NOT_FOUND:
                return ReturnNotFoundError(return_id)
            raise
        # Its final stage from the search attribute, not from a query: a query of a closed return
        # needs a worker to replay it, and the vendors' late events must not wait for one.
        stage = described.typed_search_attributes.get(RETURN_STAGE)
        if stage is None:  # not a return's workflow as this system writes them
            stage = (await self.status(return_id)).stage.value
        return ReturnStateError(return_id, Stage(stage), "the return is closed")
