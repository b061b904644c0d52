"""How a return runs its steps, waits and asks operators, written once for every step.

The cancellation contract: once a `cancel` is accepted, the next `_step` or `_wait` raises
`ReturnCancelled` instead of going on; `ReturnWorkflow.run` catches it and compensates. While
compensating, steps run again (to void the label, reverse restocks, release quantities). A
cancel is refused while money moves (`_moving_money`), so nothing is compensated mid-payment.
A failure no retry can fix goes to an operator (needs attention), who retries it, closes the
return unresolved (`ReturnClosedUnresolved`, which `run` catches like a cancel), or takes a way
out the step offers (`ways_out`: `StepAbandoned` to its caller); a caller can also declare a
branch for a failure (`refusals`). The workflow never fails.

Passed through the workflow sandbox (no per-return import): only workflow APIs, no I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

from activities.events import EventActivities
from activities.mail import MailActivities
from activities.models import NotificationKind, ShopperEmail, ShopperNotification
from activities.shop import ShopActivities
from store.events import STAGE_EVENTS, EventType, ReturnEvent
from workflows.models import Attention, OperatorAction, TimelineEntry
from workflows.policy import VendorOutage
from workflows.search_attributes import NEEDS_ATTENTION, RETURN_STAGE, STAGE_SINCE
from workflows.state import ReturnState
from workflows.vocabulary import Deadline, Decision, Stage, Verdict, WayOut

T = TypeVar("T")
A = TypeVar("A")


def step_retry(outage: VendorOutage) -> RetryPolicy:
    """Vendors have outages: a step is retried with backoff for as long as the policy waits one out,
    then handed to an operator (needs_attention) instead of failing the return or hammering the vendor."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=outage.first_retry_seconds),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=outage.longest_wait_seconds),
        maximum_attempts=outage.attempts,
    )


STEP_RETRY = step_retry(VendorOutage())  # the shipped policy's: ten tries over about six minutes
STEP_TIMEOUT = timedelta(seconds=120)  # a label purchase is up to three Shippo calls
# Activities heartbeat three times per this (activities/vendor_call.py): a worker that died is
# noticed after this long, not after the whole STEP_TIMEOUT.
STEP_HEARTBEAT = timedelta(seconds=15)
NOTIFY_RETRY = RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(minutes=1))
# The store must get every event: retried until it takes them, however long it is away.
EVENTS_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
EVENTS_TIMEOUT = timedelta(seconds=10)  # an append takes milliseconds; a dead worker's is retried after this
# The worker's own try at an append: once, briefly. It holds the change's workflow task open (updates
# and queries wait on it), so a store that doesn't answer at once gets the event by a scheduled activity.
LOCAL_APPEND_TIMEOUT = timedelta(seconds=3)
LOCAL_APPEND_RETRY = RetryPolicy(maximum_attempts=1)
EMAIL_TIMEOUT = timedelta(seconds=30)  # an order lookup and one SMTP exchange (SMTP_TIMEOUT_SECONDS each)


def failure_of(error: ActivityError) -> tuple[str | None, str]:
    """A failed activity's error type and message, as an operator reads them."""
    cause = error.cause
    error_type = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
    message = cause.message if isinstance(cause, ApplicationError) else str(cause or error)
    return error_type, message


class ReturnCancelled(Exception):
    """Raised by `_step` and `_wait` once a cancellation was accepted; `run` compensates."""


class ReturnClosedUnresolved(Exception):
    """An operator closed the return at a failed step; `run` compensates and closes it."""

    def __init__(self, action: OperatorAction):
        super().__init__(action.reason)
        self.action = action


class StepAbandoned(Exception):
    """An operator took the way out a failed step offered instead of retrying it."""

    def __init__(self, way: WayOut):
        super().__init__(way.value)
        self.way = way


class StepRefused(Exception):
    """A step failed in a way its caller declared a branch for (one of its `refusals`)."""

    def __init__(self, error_type: str, message: str):
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class ReturnSteps(ReturnState):
    def _vendor_call(self, activity: Callable[[Any, A], Awaitable[T]], arg: A) -> Awaitable[T]:
        """One step's activity, as every vendor call runs: heartbeating, a vendor's outage waited out
        as the return's policy says (retries aren't commands: returns started before a policy
        changed keep replaying)."""
        return workflow.execute_activity_method(
            activity,
            arg,
            start_to_close_timeout=STEP_TIMEOUT,
            heartbeat_timeout=STEP_HEARTBEAT,
            retry_policy=step_retry(self._policy.vendor_outage),
        )

    async def _step(
        self,
        name: str,
        activity: Callable[[Any, A], Awaitable[T]],
        arg: A,
        *,
        refusals: Collection[str] = (),
        refusals_since: str | None = None,
        ways_out: Collection[WayOut] = (),
    ) -> T:
        """Runs an activity; when its retries run out, waits for an operator: `retry` runs it again,
        closing the return unresolved raises `ReturnClosedUnresolved`, one of `ways_out` raises
        `StepAbandoned` (the caller's branch).

        A failure whose type is in `refusals` raises `StepRefused` instead (the caller's branch);
        with `refusals_since`, only in returns that reached that `workflow.patched` change.
        """
        while True:
            if self._cancel_pending():
                raise ReturnCancelled
            try:
                return await self._vendor_call(activity, arg)
            except ActivityError as error:
                error_type, message = failure_of(error)
                if error_type in refusals and (refusals_since is None or workflow.patched(refusals_since)):
                    raise StepRefused(error_type or "", message) from error
                self._flag(f"{name} failed", step=name, error_type=error_type, message=message)
                self._retry_requested = False
                self._ways_out = frozenset({WayOut.close_unresolved, *ways_out})
                self._way_out = None
                await self._wait(lambda: self._retry_requested or self._way_out is not None)
                self._ways_out = frozenset()
                self._unflag()
                if self._way_out is not None:
                    way, action = self._way_out
                    if way is WayOut.close_unresolved:
                        raise ReturnClosedUnresolved(action) from error
                    self._note(action.actor, f"{name} abandoned for {way.value}: {action.reason}")
                    raise StepAbandoned(way) from error

    async def _wait(self, condition: Callable[[], bool], deadline: Deadline | None = None) -> bool:
        """Waits for `condition`; False if the deadline passes first (extensions count)."""
        while True:
            if self._cancel_pending():
                raise ReturnCancelled
            if condition():
                return True
            timeout = None
            if deadline is not None:
                timeout = self._deadlines[deadline] - workflow.now()
                if timeout <= timedelta(0):
                    return False
            version = self._deadline_version
            with contextlib.suppress(TimeoutError):  # loop: the deadline check above decides
                await workflow.wait_condition(
                    lambda version=version: condition() or self._cancel_pending() or self._deadline_version != version,
                    timeout=timeout,
                )

    async def _await_decision(self, decision: Decision, deadline: Deadline | None, reason: str) -> Verdict:
        """Waits for an operator's approve/reject; a passed deadline escalates, never decides."""
        self._awaiting_decision = decision
        self._decision = None
        self._flag(f"operator decision needed: {reason}")
        if deadline is not None and not await self._wait(lambda: self._decision is not None, deadline):
            self._flag(f"escalated: no decision within the {deadline.value} deadline ({reason})")
        await self._wait(lambda: self._decision is not None)
        if deadline is not None:
            self._clear_deadline(deadline)
        self._awaiting_decision = None
        self._unflag()
        verdict, _ = self._decision
        return verdict

    @contextlib.contextmanager
    def _moving_money(self) -> Iterator[None]:
        """Marks a refund, credit or exchange under way: a cancel is refused until it is done."""
        self._money_moving = True
        try:
            yield
        finally:
            self._money_moving = False

    def _decide(self, verdict: Verdict, action: OperatorAction) -> None:
        self._decision = (verdict, action)
        self._note(action.actor, f"{verdict.past_tense} ({self._awaiting_decision.value}): {action.reason}")

    async def _notify(
        self, kind: NotificationKind, detail: str, *, amount: int | None = None, until: datetime | None = None
    ) -> None:
        """Tells the shopper through the shop platform's hook and (returns started since
        `SHOPPER_EMAILS`) by email; a notification that can't be sent is noted, never blocking."""
        try:
            await workflow.execute_activity_method(
                ShopActivities.notify_shopper,
                ShopperNotification(
                    return_id=self._request.return_id, customer_id=self._request.customer_id, kind=kind, detail=detail
                ),
                start_to_close_timeout=STEP_TIMEOUT,
                heartbeat_timeout=STEP_HEARTBEAT,  # a dead worker's attempt is retried after this, not STEP_TIMEOUT
                retry_policy=NOTIFY_RETRY,
            )
        except ActivityError as error:
            self._note("system", f"shopper not notified ({kind.value}): {error.cause or error}")
        if self._emails_shopper:
            await self._email(kind, detail, amount, until)

    async def _email(self, kind: NotificationKind, detail: str, amount: int | None, until: datetime | None) -> None:
        email = ShopperEmail(
            return_id=self._request.return_id,
            order_id=self._request.order_id,
            kind=kind,
            language=self._request.language,
            amount=amount,
            currency=self._currency if amount is not None else None,
            until=until,
            detail=detail,
        )
        try:
            await workflow.execute_activity_method(
                MailActivities.email_shopper, email, start_to_close_timeout=EMAIL_TIMEOUT, retry_policy=NOTIFY_RETRY
            )
        except ActivityError as error:
            self._note("system", f"shopper not emailed ({kind.value}): {error.cause or error}")

    # --- Deadlines -------------------------------------------------------------------------------

    def _set_deadline(self, deadline: Deadline) -> None:
        self._deadlines[deadline] = workflow.now() + self._policy.deadlines.duration(deadline)

    def _clear_deadline(self, deadline: Deadline) -> None:
        self._deadlines.pop(deadline, None)

    # --- Stage, attention, timeline: each moves in one place ----------------------------------------

    def _flag(
        self, reason: str, *, step: str | None = None, error_type: str | None = None, message: str | None = None
    ) -> None:
        self._attention = Attention(
            reason=reason, step=step, error_type=error_type, message=message, since=workflow.now()
        )
        self._note("system", f"needs attention: {reason}" + (f" ({error_type}: {message})" if error_type else ""))
        workflow.upsert_search_attributes([NEEDS_ATTENTION.value_set("true")])
        self._event(EventType.needs_attention)

    def _unflag(self) -> None:
        if self._attention is not None:
            self._attention = None
            workflow.upsert_search_attributes([NEEDS_ATTENTION.value_set("false")])
            self._event(EventType.attention_cleared)

    def _finish(self, stage: Stage, actor: str, detail: str) -> None:
        self._deadlines.clear()
        self._unflag()
        self._move_to(stage, actor, detail)

    def _move_to(self, stage: Stage, actor: str, detail: str) -> None:
        """The one place a return changes stage: state, timeline and visibility together."""
        self._stage = stage
        self._note(actor, detail)
        # One upsert for both: the same command returns recorded before the stage's time had.
        workflow.upsert_search_attributes([RETURN_STAGE.value_set(stage.value), STAGE_SINCE.value_set(workflow.now())])
        if stage in STAGE_EVENTS:
            self._event(STAGE_EVENTS[stage])

    def _event(self, kind: EventType) -> None:
        """The return's next event: its public status now, numbered in sequence, appended to the
        event store with the change by an idempotent activity. Built from workflow state and the
        workflow clock, so a replay builds the very same event."""
        if not self._records_events:
            return
        self._event_sequence += 1
        event = ReturnEvent.of(kind, self.status(), self._event_sequence, workflow.now())
        self._recording = [handle for handle in self._recording if not handle.done()]
        if self._appends_locally:
            self._recording.append(asyncio.create_task(self._append(event)))
        else:  # returns started before EVENTS_APPENDED_LOCALLY: one scheduled activity per event
            self._recording.append(self._append_scheduled(event))

    async def _append(self, event: ReturnEvent) -> None:
        """Appended by this worker (a local activity): the history keeps a marker with its answer,
        not the event, and no task goes through the server. A worker that dies before the marker is
        written appends it again on replay: the store takes an event id once. If the store doesn't
        take it at once, a scheduled activity retries until it does, and the return goes on."""
        try:
            await workflow.execute_local_activity_method(
                EventActivities.record_event,
                event,
                start_to_close_timeout=LOCAL_APPEND_TIMEOUT,
                retry_policy=LOCAL_APPEND_RETRY,
            )
        except FailureError:  # a local activity's failure or timeout comes as itself, not as an ActivityError
            await self._append_scheduled(event)

    def _append_scheduled(self, event: ReturnEvent) -> workflow.ActivityHandle[bool]:
        return workflow.start_activity_method(
            EventActivities.record_event, event, start_to_close_timeout=EVENTS_TIMEOUT, retry_policy=EVENTS_RETRY
        )

    async def _events_recorded(self) -> None:
        """Waits until the store has every event made so far (before the run ends)."""
        if self._recording:
            await asyncio.gather(*self._recording)

    def _note(self, actor: str, detail: str) -> None:
        self._timeline.append(TimelineEntry(at=workflow.now(), stage=self._stage, actor=actor, detail=detail))
        workflow.logger.info(
            detail, extra={"return_id": self._request.return_id, "stage": self._stage.value, "actor": actor}
        )
