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

Whatever a caller sends is checked here as it comes in (`AT_THE_DOOR`: no control characters
or line breaks in free text, every text within its limit) before Temporal sees it; vendors'
text (a carrier's location, a refund's failure reason) is made plain instead, since the vendor
can't be asked again. Actions take an `idempotency_key` (the Temporal update id): the same
action sent again with the same key is answered, not applied twice.

A return whose run Temporal no longer has (deleted when the namespace's retention ended) is
read from the event store instead (`status`, `timeline`): its last event's status.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import structlog
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from temporalio.api.workflow.v1 import PendingActivityInfo
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

import workflows.rules as rules
from integrations.errors import IntegrationError
from integrations.settings import Settings, get_settings
from integrations.temporal_client import connect
from integrations.webhook_urls import RefusedUrl, checked_url
from starter.eligibility import Eligibility, EligibilityCheck, as_the_order_has_it, contact_matches, load_order
from starter.errors import (
    InvalidReturnInput,
    ReturnConflictError,
    ReturnNotFoundError,
    ReturnStateError,
    ReturnUnavailableError,
)
from starter.policy import load_return_policy
from starter.shops import belongs_to_shop, shop_prefix, shop_query
from starter.subscriptions import send_deliveries
from starter.visibility import (
    ReturnFilter,
    ReturnPage,
    decode_page_token,
    encode_page_token,
    scoped,
    summary_of,
    tracking_number_query,
)
from store import reports
from store.events import EventType
from store.finder import SORTS, ReturnsWanted, find_returns
from store.reports import Report, ReportName
from store.store import EventStore
from store.webhooks import (
    Attempt,
    CreatedSubscription,
    Deliveries,
    Delivery,
    Outcome,
    Subscription,
    Subscriptions,
)
from workflows.contract import (
    INVALID_INPUT,
    INVALID_STATE,
    ORDER_NOT_FOUND,
    REFUND_RETURN_ID_METADATA,
    UNAVAILABLE,
    idempotency_key,
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
    OtherWay,
    ParcelReceipt,
    PaymentUpdate,
    PickupChange,
    ReturnRequest,
    ReturnStatus,
    StartReturn,
    StepRetry,
    TimelineEntry,
)
from workflows.policy import ReturnPolicy
from workflows.primitives import AT_THE_DOOR, UNSAFE_TEXT
from workflows.return_workflow import ReturnWorkflow
from workflows.search_attributes import CUSTOMER_ID, ORDER_ID, RETURN_STAGE, STAGE_SINCE, TRACKING_NUMBER
from workflows.vocabulary import CLOSED_STAGES, Deadline, RefundState, ReturnMethod, Stage, TrackingStatus

if TYPE_CHECKING:  # the vendors' SDKs are slow to import; returnsctl needs neither
    from integrations.shippo_webhooks import TrackUpdate
    from integrations.shop import ShopperOrder, ShopPlatform, Variant
    from integrations.stripe_webhooks import StripeRefundEvent

# A name in who acted (`<role>:<holder> for <name>`): a key's holder, or whom a system's key acts for.
ActorName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,47}$")]
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
log = structlog.get_logger(__name__)
REPORT_DAYS = 30  # a report's period when none is given
# How a call that ran past its rpc_timeout comes back from the SDK's core.
_TIMED_OUT = frozenset({RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED})
# A refused signal or update the caller should simply send again: no answer in time, too many updates
# in flight, or an update the server aborted (UNAVAILABLE "workflow update was aborted": its workflow's
# in-memory state was reset under load; an update's id makes a second try safe).
_TRY_AGAIN = _TIMED_OUT | {RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE}


def actor_id(role: str, name: str, on_behalf_of: str | None = None) -> str:
    """How the timeline names who acted: `operator:kim`, or `warehouse:wms-1 for dock-7` when a
    system's key acts for someone it names (the system vouches for that name, nobody else does)."""
    return f"{role}:{name}" + (f" for {on_behalf_of}" if on_behalf_of else "")


def at_the_door(message: M) -> M:
    """The message as a door may pass it on: validated with the door's limits (starter/errors.py:
    InvalidReturnInput naming each offending field), before anything reaches Temporal."""
    try:
        return type(message).model_validate(message.model_dump(), context=AT_THE_DOOR)
    except ValidationError as error:
        raise InvalidReturnInput.from_validation(error) from None


def plain_text(text: str | None, max_length: int) -> str | None:
    """A vendor's free text, made safe to pass on: control characters become spaces, cut to length."""
    if text is None:
        return None
    return " ".join(UNSAFE_TEXT.sub(" ", text).split())[:max_length] or None


# --- What the client answers besides the workflow's own models ------------------------------


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class DeliveryOutcome(StrEnum):
    signalled = "signalled"
    unknown_return = "unknown_return"  # not a parcel or refund of ours: nothing to do
    return_closed = "return_closed"  # too late to matter
    ignored = "ignored"  # not about a return, not this return's parcel or refund, or a test event on a live system


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
        store: EventStore | None = None,
    ):
        self._client = client
        self._settings = settings
        self._rpc_timeout = timedelta(seconds=settings.temporal_rpc_timeout_seconds)
        self._policy = policy
        self._shop = shop
        self._store = store
        self._store_opening = threading.Lock()  # two first reads at once migrate once

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> ReturnsClient:
        settings = settings or get_settings()
        return cls(await connect(settings), settings)

    async def aclose(self) -> None:
        if self._shop is not None:
            await self._shop.aclose()
        if self._store is not None:
            self._store.close()

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

    async def check_eligibility(self, request: ReturnRequest, *, shop_id: str | None = None) -> Eligibility:
        """What the return would decide about each line if started now; starts nothing.

        Only for a caller who names the order rightly: its id (within `shop_id`'s orders, when
        given) and the customer's email or postal code; otherwise the order is unknown, exactly
        as one that does not exist, and nothing about it is told.
        """
        request = at_the_door(request)
        if not belongs_to_shop(request.order_id, shop_id):
            raise InvalidReturnInput("order_id", f"unknown order {request.order_id}")
        return await EligibilityCheck(self._shop_platform(), self.policy).of(request, datetime.now(UTC))

    async def eligibility_by_method(
        self, request: ReturnRequest, methods: list[ReturnMethod]
    ) -> dict[ReturnMethod, Eligibility]:
        """`check_eligibility` for each of these ways of sending it back (the order is read once)."""
        request = at_the_door(request)
        return await EligibilityCheck(self._shop_platform(), self.policy).of_each(request, methods, datetime.now(UTC))

    async def shopper_order(
        self, order_id: str, *, email: str | None = None, postal_code: str | None = None, shop_id: str | None = None
    ) -> ShopperOrder:
        """The order as its shopper sees it (lines with titles, addresses), for a caller who names it
        rightly: its id and the order's email or postal code. Anyone else hears "unknown order" (the
        same `InvalidReturnInput` as for an order that does not exist), and learns nothing."""
        unknown = InvalidReturnInput("order_id", f"unknown order {order_id}")
        if not belongs_to_shop(order_id, shop_id):
            raise unknown
        try:
            order = await self._shop_platform().load_shopper_order(order_id)
        except IntegrationError as error:
            if error.code == ORDER_NOT_FOUND:
                raise unknown from error
            raise
        if not contact_matches(email, postal_code, order.contact):
            raise unknown
        return order

    async def customers_with_email(self, email: str) -> list[str]:
        """The customers whose orders carry `email`, as the shop platform knows them (an operator's search)."""
        return await self._shop_platform().customers_with_email(email)

    async def variants(self, sku: str) -> list[Variant]:
        """What a line may be exchanged for: the product's variants, with what the shop has on hand."""
        return await self._shop_platform().variants(sku)

    async def units_in_returns(self, order_id: str) -> dict[str, int]:
        """Per order line, the units its returns hold now (any return, any door)."""
        return await self._shop_platform().quantities_in_returns(order_id)

    async def start(self, request: ReturnRequest, *, shop_id: str | None = None) -> StartedReturn:
        """Starts the return's workflow, or finds the one this same request started before.

        The money facts are the order's: the request is completed from the shop platform's order,
        and refused (`InvalidReturnInput`) where it names others or the order is unknown. A
        different request under an existing return id raises `ReturnConflictError`. With
        `shop_id`, the return id and the order id must be that shop's (starter/shops.py).
        """
        request = at_the_door(request)
        await self._check_pickup_window(request)
        for field, identifier in (("return_id", request.return_id), ("order_id", request.order_id)):
            if not belongs_to_shop(identifier, shop_id):
                prefix = shop_prefix(shop_id or "")
                raise InvalidReturnInput(field, f"this key's shop has ids beginning {prefix!r}")
        shop = self._shop_platform()
        order = await load_order(shop, request.order_id)
        request = as_the_order_has_it(request, order)
        if await self._was_used(request) and not await self._exists(request.return_id):
            # Its history is gone (the namespace's retention), but the shop or the event store remembers it.
            raise ReturnConflictError(request.return_id, "was used before; a return id starts one return, for ever")
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
                        SearchAttributePair(STAGE_SINCE, datetime.now(UTC)),
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

    async def _check_pickup_window(self, request: ReturnRequest) -> None:
        """A carrier must be able to come in the window asked for (checked again when it is booked).
        A repeated start is not refused for time having passed since the first."""
        if request.method is ReturnMethod.pickup and request.pickup is None:
            raise InvalidReturnInput("pickup", "method pickup needs the window the carrier is to come in")
        if request.pickup is None:
            return
        now = datetime.now(UTC)
        ship_by = now + self.policy.deadlines.duration(Deadline.ship_by)
        problem = rules.pickup_window_problem(request.pickup, now, ship_by)
        if problem and not await self._exists(request.return_id):
            raise InvalidReturnInput("pickup", problem)

    async def status(self, return_id: str) -> ReturnStatus:
        """The return's status, with the step the server is retrying, if any (from the first failure on,
        long before the retries run out and the return asks for an operator)."""
        try:
            status, retrying = await asyncio.gather(
                self._query(return_id, ReturnWorkflow.status), self._retrying(return_id)
            )
        except ReturnNotFoundError:
            return await self._from_the_record(return_id, "status")
        return status.model_copy(update={"retrying": retrying}) if retrying else status

    async def timeline(self, return_id: str) -> list[TimelineEntry]:
        try:
            return await self._query(return_id, ReturnWorkflow.timeline)
        except ReturnNotFoundError:
            return await self._from_the_record(return_id, "timeline")

    async def result(self, return_id: str) -> ReturnStatus:
        """Waits for the return's workflow to end; its final status."""
        return await self._handle(return_id).result()

    # --- Reports (the event store) -------------------------------------------------------------

    async def report(
        self, name: ReportName, start: date | None = None, end: date | None = None, currency: str | None = None
    ) -> Report:
        """A report of the event store over the days `start` to `end`, both included (store/reports.py).
        Without them: the last `REPORT_DAYS` days, or for the snapshots (open returns, needs
        attention) every return."""
        if start is None and end is None and name in reports.SNAPSHOTS:
            period = None
        else:
            try:
                end = end or (start + timedelta(days=REPORT_DAYS - 1) if start else datetime.now(UTC).date())
                start = start or end - timedelta(days=REPORT_DAYS - 1)
            except OverflowError:  # a day so near year 1 or 9999 that the default range leaves the calendar
                leaves = f"a range of {REPORT_DAYS} days around it leaves the calendar"
                raise InvalidReturnInput("from", leaves) from None
            if start > end:
                raise InvalidReturnInput("from", f"the period must not end ({end}) before it starts ({start})")
            period = reports.Period.days(start.isoformat(), end.isoformat())
        return await self._in_store(lambda store: reports.report(store, name, period, currency))

    async def find_returns(
        self, wanted: ReturnsWanted, *, limit: int = 25, offset: int = 0, sort: str = "newest"
    ) -> tuple[list[dict[str, Any]], int]:
        """Returns the event store's read model finds by what visibility doesn't hold (a SKU, the
        method, a reason, the day requested, waiting for a decision): a page in `sort`'s order
        (store/finder.py: SORTS), and the count of all."""
        if sort not in SORTS:
            raise InvalidReturnInput("sort", f"one of {', '.join(SORTS)}")
        return await self._in_store(lambda store: find_returns(store, wanted, limit=limit, offset=offset, sort=sort))

    # --- Event subscriptions (outbound webhooks; the store keeps them) ----------------------------

    async def create_subscription(
        self, url: str, event_types: Iterable[str] = (), description: str | None = None
    ) -> CreatedSubscription:
        """A subscription to return events (every type when none is named); its signing secret is
        answered here once. A URL reaching a private or loopback address is refused unless
        WEBHOOK_ALLOW_PRIVATE_URLS allows it."""
        try:
            url = await checked_url(url, allow_private=self._settings.webhook_allow_private_urls)
        except RefusedUrl as refused:
            raise InvalidReturnInput("url", refused.message) from None
        unknown = sorted(set(event_types) - {kind.value for kind in EventType})
        if unknown:
            raise InvalidReturnInput("event_types", f"unknown event types: {', '.join(unknown)}")
        return await self._in_store(lambda store: Subscriptions(store.engine).create(url, event_types, description))

    async def subscriptions(self) -> list[Subscription]:
        return await self._in_store(lambda store: Subscriptions(store.engine).list())

    async def subscription(self, subscription_id: str) -> Subscription:
        return await self._in_store(lambda store: Subscriptions(store.engine).get(subscription_id))

    async def enable_subscription(self, subscription_id: str) -> Subscription:
        enabled = await self._in_store(lambda store: Subscriptions(store.engine).enable(subscription_id))
        log.info("event subscription enabled", subscription_id=subscription_id)
        return enabled

    async def disable_subscription(self, subscription_id: str, reason: str) -> Subscription:
        """No delivery goes out until it is enabled again (those due meanwhile fail, for redelivery later)."""
        disabled = await self._in_store(lambda store: Subscriptions(store.engine).disable(subscription_id, reason))
        log.info("event subscription disabled", subscription_id=subscription_id, reason=reason)
        return disabled

    async def rotate_subscription_secret(self, subscription_id: str) -> str:
        """A new signing secret (answered once); the previous one keeps signing for a day beside it."""
        return await self._in_store(lambda store: Subscriptions(store.engine).rotate_secret(subscription_id))

    async def delivery_log(
        self, subscription_id: str, *, outcome: Outcome | None = None, limit: int = 100
    ) -> list[tuple[Delivery, list[Attempt]]]:
        """A subscription's deliveries, newest first, each with its attempts (status, latency, error)."""

        def read(store: EventStore) -> list[tuple[Delivery, list[Attempt]]]:
            deliveries = Deliveries(store.engine)
            deliveries.subscriptions.get(subscription_id)  # an unknown one is refused, not an empty log
            found = deliveries.log(subscription_id, outcome=outcome, limit=limit)
            return [(delivery, deliveries.attempts(delivery.id)) for delivery in found]

        return await self._in_store(read)

    async def redeliver(
        self,
        subscription_id: str,
        *,
        event_id: str | None = None,
        return_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """Sends again one event, every event of a return, or the events queued in a time range
        (each return's in sequence order); answers how many deliveries were queued again."""
        if event_id is None and return_id is None and since is None:
            raise InvalidReturnInput("event_id", "name an event, a return or a start time")

        def reset(store: EventStore) -> tuple[int, list[Delivery]]:
            deliveries = Deliveries(store.engine)
            deliveries.subscriptions.get(subscription_id)
            count = deliveries.redeliver(
                subscription_id, event_id=event_id, return_id=return_id, since=since, until=until
            )
            return count, deliveries.log(subscription_id, outcome=Outcome.pending, limit=10_000)

        count, pending = await self._in_store(reset)
        await send_deliveries(self._client, self._settings, pending)
        return count

    async def _in_store(self, work: Callable[[EventStore], T]) -> T:
        store = await asyncio.to_thread(self.event_store)
        return await asyncio.to_thread(work, store)

    def event_store(self) -> EventStore:
        """The event store (EVENT_STORE_URL), opened and brought up to date on first use."""
        with self._store_opening:
            if self._store is None:
                self._store = EventStore.open(self._settings.event_store_url.get_secret_value(), migrate=True)
        return self._store

    async def _from_the_record(self, return_id: str, read: Literal["status", "timeline"]) -> Any:
        """What the event store knows of a return Temporal no longer has (its run was deleted)."""
        try:
            store = await asyncio.to_thread(self.event_store)
            found = await asyncio.to_thread(getattr(store, read), return_id)
        except SQLAlchemyError as error:
            log.warning("event store unreadable", return_id=return_id, error=type(error).__name__)
            raise ReturnUnavailableError(return_id) from error
        if found is None:
            raise ReturnNotFoundError(return_id)
        return found

    def _shop_platform(self) -> ShopPlatform:
        if self._shop is None:
            from integrations.shop import ShopPlatform  # the doors that start returns ask the shop; returnsctl doesn't

            self._shop = ShopPlatform(self._settings)
        return self._shop

    # --- Listing (Temporal visibility) --------------------------------------------------------

    async def list_returns(
        self, filters: ReturnFilter, *, page_size: int = 50, page_token: str | None = None, shop_id: str | None = None
    ) -> ReturnPage:
        """Returns matching `filters`; with `shop_id`, only that shop's."""
        clauses = [filters.visibility_query(datetime.now(UTC)), shop_query(shop_id) if shop_id else ""]
        query = " AND ".join(f"({clause})" for clause in clauses if clause)
        return await self.search_returns(query, page_size=page_size, page_token=page_token)

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

    async def count_returns(self, query: str) -> int:
        """How many returns match a visibility query (counted by the server, none read)."""
        try:
            counted = await self._client.count_workflows(scoped(query), rpc_timeout=self._rpc_timeout)
        except RPCError as error:
            if error.status == RPCStatusCode.INVALID_ARGUMENT:
                raise InvalidReturnInput("query", error.message) from error
            raise
        return counted.count

    async def find_return_by_tracking_number(self, tracking_number: str) -> str | None:
        query = tracking_number_query(tracking_number)
        page = await self.search_returns(query, page_size=1) if query else None
        return page.returns[0].return_id if page and page.returns else None

    # --- Events: carrier, warehouse, payments ------------------------------------------------

    async def record_carrier_scan(self, return_id: str, scan: CarrierScan) -> None:
        await self._signal(return_id, ReturnWorkflow.carrier_scan, scan)

    async def record_receipt(
        self, return_id: str, receipt: ParcelReceipt, *, idempotency_key: str | None = None
    ) -> None:
        """Checked by the workflow before it is written: unknown lines or an inspected return are refused."""
        await self._update(return_id, ReturnWorkflow.record_receipt, receipt, idempotency_key)

    async def record_inspection(
        self, return_id: str, report: InspectionReport, *, idempotency_key: str | None = None
    ) -> None:
        """Checked by the workflow before it is written: one grade per open line, once."""
        await self._update(return_id, ReturnWorkflow.record_inspection, report, idempotency_key)

    async def confirm_disposition(
        self, return_id: str, confirmation: DispositionConfirmation, *, idempotency_key: str | None = None
    ) -> Acknowledgement:
        """The warehouse confirms a line's disposition work is done (refurbished, shipped to the liquidator...);
        the return records it and tells the shop platform. A repeated confirmation is accepted once."""
        try:
            return await self._update(return_id, ReturnWorkflow.confirm_disposition, confirmation, idempotency_key)
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
        """Routes a Shippo tracking event to its return: by the label's metadata, else by tracking number.

        A test event never moves a return of a live system, and a scan reaches a return only
        if its tracking number is the return's own label's (whatever the metadata says).
        """
        if update.test and self._settings.live:
            log.warning("test tracking event ignored on a live system", tracking_number=update.tracking_number)
            return EventDelivery(outcome=DeliveryOutcome.ignored)
        return_id = return_id_from_label_metadata(update.metadata)
        if return_id is None:  # found by its tracking number, so the number is the label's
            return_id = await self.find_return_by_tracking_number(update.tracking_number)
            if return_id is None:
                return EventDelivery(outcome=DeliveryOutcome.unknown_return)
        else:
            try:
                label_tracking_number = await self._label_tracking_number(return_id)
            except ReturnNotFoundError:
                return EventDelivery(outcome=DeliveryOutcome.unknown_return, return_id=return_id)
            if label_tracking_number is None:  # its label is being bought: Shippo retries after a 503
                raise ReturnUnavailableError(return_id)
            if label_tracking_number != update.tracking_number:
                log.warning("scan of another parcel ignored", return_id=return_id, tracking=update.tracking_number)
                return EventDelivery(outcome=DeliveryOutcome.ignored, return_id=return_id)
        scan = CarrierScan(
            event_id=update.event_id,
            status=TrackingStatus(update.status),
            occurred_at=update.occurred_at,
            substatus=plain_text(update.substatus, 128),
            location=plain_text(update.location, 200),
        )
        return await self._deliver(return_id, self.record_carrier_scan(return_id, scan))

    async def deliver_refund_event(self, event: StripeRefundEvent) -> EventDelivery:
        """Routes a Stripe refund event to the return its refund's metadata names, if the refund is
        that return's own (made by its refund step, whose idempotency key the metadata keeps)."""
        from integrations.stripe_payments import IDEMPOTENCY_KEY_METADATA  # loaded with the event already

        refund = event.refund
        if not event.live and self._settings.live:
            log.warning("test refund event ignored on a live system", refund_id=refund.refund_id)
            return EventDelivery(outcome=DeliveryOutcome.ignored)
        return_id = refund.metadata.get(REFUND_RETURN_ID_METADATA)
        if return_id is None:  # a refund made outside this system
            log.info("refund event ignored: no return named", refund=refund.refund_id)
            return EventDelivery(outcome=DeliveryOutcome.ignored)
        # Every refund step's key begins `return:<id>:refund` (REFUND_STEP): one made elsewhere,
        # even on the same payment and naming the return, has none.
        refund_key = refund.metadata.get(IDEMPOTENCY_KEY_METADATA) or ""
        if not refund_key.startswith(idempotency_key(return_id, "refund")):
            log.warning("refund event ignored: not this return's refund", return_id=return_id, refund=refund.refund_id)
            return EventDelivery(outcome=DeliveryOutcome.ignored, return_id=return_id)
        update = PaymentUpdate(
            refund_id=plain_text(refund.refund_id, 255) or "-",
            status=RefundState(refund.status),
            failure_reason=plain_text(refund.failure_reason, 200),
        )
        return await self._deliver(return_id, self.record_payment_update(return_id, update))

    # --- Operator and shopper actions (workflow updates with validators) -------------------------

    # Each takes an `idempotency_key`: the action sent again with the same key (a retry after a
    # timeout, say) reaches the same update and answers its outcome; it never acts twice.

    async def approve(
        self, return_id: str, action: OperatorAction, *, idempotency_key: str | None = None
    ) -> Acknowledgement:
        return await self._update(return_id, ReturnWorkflow.approve, action, idempotency_key)

    async def reject(
        self, return_id: str, action: OperatorAction, *, idempotency_key: str | None = None
    ) -> Acknowledgement:
        return await self._update(return_id, ReturnWorkflow.reject, action, idempotency_key)

    async def cancel(
        self, return_id: str, cancellation: Cancellation, *, idempotency_key: str | None = None
    ) -> Acknowledgement:
        return await self._update(return_id, ReturnWorkflow.cancel, cancellation, idempotency_key)

    async def resolve_otherwise(
        self, return_id: str, other: OtherWay, *, idempotency_key: str | None = None
    ) -> Acknowledgement:
        """A step that failed for good, resolved another way than retrying it: store credit for a
        refund that can't be made, or closing the return unresolved (any step)."""
        return await self._update(return_id, ReturnWorkflow.resolve_otherwise, other, idempotency_key)

    async def retry(
        self, return_id: str, action: OperatorAction, *, idempotency_key: str | None = None
    ) -> Acknowledgement:
        return await self._update(return_id, ReturnWorkflow.retry, action, idempotency_key)

    async def override_disposition(
        self, return_id: str, override: DispositionOverride, *, idempotency_key: str | None = None
    ) -> Acknowledgement:
        return await self._update(return_id, ReturnWorkflow.override_disposition, override, idempotency_key)

    async def extend_deadline(
        self, return_id: str, extension: DeadlineExtension, *, idempotency_key: str | None = None
    ) -> Acknowledgement:
        return await self._update(return_id, ReturnWorkflow.extend_deadline, extension, idempotency_key)

    async def reschedule_pickup(
        self, return_id: str, change: PickupChange, *, idempotency_key: str | None = None
    ) -> Acknowledgement:
        """Moves the carrier pickup to another window (or books one again after a refusal)."""
        return await self._update(return_id, ReturnWorkflow.reschedule_pickup, change, idempotency_key)

    async def cancel_pickup(
        self, return_id: str, action: OperatorAction, *, idempotency_key: str | None = None
    ) -> Acknowledgement:
        """No carrier pickup after all: the parcel is dropped off with the label."""
        return await self._update(return_id, ReturnWorkflow.cancel_pickup, action, idempotency_key)

    # --- Talking to the workflow; every failure becomes a door's error here -----------------------

    async def _was_used(self, request: ReturnRequest) -> bool:
        """Whether a return under this id ever started: the shop holds its reservation (on this
        order), or the event store its record (any order; declined returns reserve nothing)."""
        if await self._shop_platform().return_was_reserved(request.order_id, request.return_id):
            return True
        try:
            return await self._in_store(lambda store: store.record(request.return_id) is not None)
        except SQLAlchemyError as error:  # unknown whether it was used: start nothing
            log.warning("event store unreadable", return_id=request.return_id, error=type(error).__name__)
            raise ReturnUnavailableError(request.return_id) from error

    async def _exists(self, return_id: str) -> bool:
        try:
            await self._handle(return_id).describe(rpc_timeout=self._rpc_timeout)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    async def _retrying(self, return_id: str) -> StepRetry | None:
        try:
            described = await self._handle(return_id).describe(rpc_timeout=self._rpc_timeout)
        except RPCError:
            return None  # the status query says why, if anything is wrong
        return retrying_step(described.raw_description.pending_activities)

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

    async def _update(self, return_id: str, update: Any, payload: BaseModel, update_id: str | None = None) -> Any:
        payload = at_the_door(payload)
        try:
            return await self._handle(return_id).execute_update(
                update, payload, id=update_id, rpc_timeout=self._rpc_timeout
            )
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
                stage = Stage(cause.details[0]) if cause.details else (await self.status(return_id)).stage
                raise ReturnStateError(return_id, stage, cause.message) from error
            if isinstance(cause, ApplicationError) and cause.type == UNAVAILABLE:
                raise ReturnUnavailableError(return_id) from error
            raise

    async def _signal(self, return_id: str, signal: Any, payload: BaseModel) -> None:
        payload = at_the_door(payload)
        try:
            await self._handle(return_id).signal(signal, payload, rpc_timeout=self._rpc_timeout)
        except RPCError as error:
            raise await self._why_not_running(return_id, error) from error

    async def _label_tracking_number(self, return_id: str) -> str | None:
        """The tracking number of the return's label (its search attribute; None before it has one).
        Read from the server, not the return's worker: it answers while no worker runs."""
        try:
            description = await self._handle(return_id).describe(rpc_timeout=self._rpc_timeout)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise ReturnNotFoundError(return_id) from error
            if error.status in _TIMED_OUT:
                raise ReturnUnavailableError(return_id) from error
            raise
        return description.typed_search_attributes.get(TRACKING_NUMBER)

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
        if error.status in _TRY_AGAIN:
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


def retrying_step(pending: Iterable[PendingActivityInfo]) -> StepRetry | None:
    """The first running step whose earlier attempts failed, as the server reports it."""
    for activity in pending:
        if activity.attempt > 1 and activity.HasField("last_failure"):
            return StepRetry(
                activity=activity.activity_type.name,
                attempt=activity.attempt,
                last_error=activity.last_failure.message or None,
                next_attempt_at=activity.next_attempt_schedule_time.ToDatetime(UTC)
                if activity.HasField("next_attempt_schedule_time")
                else None,
            )
    return None
