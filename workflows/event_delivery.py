"""EventDeliveryWorkflow: one subscription's deliveries of one return's events, in sequence order.

Contract
- id: `delivery_workflow_id(subscription_id, return_id)`; signal-with-start by whoever queues a
  delivery (activities/events.py when events are stored, ReturnsClient.redeliver).
- input: `DeliveryStart`; signal `deliver` (deliveries queued: id and the event's sequence).
- Each delivery is attempted until it is delivered or fails for good; only then does the next one
  (the lowest sequence queued) go: per return and subscription, events arrive in order. Waits
  between attempts are durable timers, so a crash or restart of everything loses no retry.
- Idle for `IDLE` with nothing queued, it ends; the next signal-with-start begins a new run.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.deliveries import DeliveryActivities
    from activities.models import DeliveryAttempt, DeliveryRetry, DeliveryVerdict, QueuedDelivery
    from workflows.primitives import Contract

IDLE = timedelta(hours=1)
# The activity itself only fails when the store can't be reached: retried until it can.
ATTEMPT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
ATTEMPT_TIMEOUT = timedelta(seconds=30)  # a POST times out after 5 s; recording it takes milliseconds
# An event waits for its predecessor: stored and queued within moments (appends run side by side).
WAIT_FOR_EARLIER = timedelta(seconds=1)


def delivery_workflow_id(subscription_id: str, return_id: str) -> str:
    return f"deliveries-{subscription_id}-{return_id}"


class DeliveryStart(Contract):
    subscription_id: str
    return_id: str
    retry: DeliveryRetry


@workflow.defn
class EventDeliveryWorkflow:
    def __init__(self) -> None:
        self._queued: dict[int, int] = {}  # delivery id -> sequence
        self._sending: int | None = None
        self._queued_again: set[int] = set()  # redelivered while being sent: send once more after

    @workflow.signal
    def deliver(self, deliveries: list[QueuedDelivery]) -> None:
        for queued in deliveries:
            if queued.delivery_id == self._sending:
                self._queued_again.add(queued.delivery_id)
            self._queued[queued.delivery_id] = queued.sequence

    @workflow.run
    async def run(self, start: DeliveryStart) -> None:
        while await self._something_queued():
            delivery_id = min(self._queued, key=lambda queued: (self._queued[queued], queued))
            self._sending = delivery_id
            settled = await self._send(delivery_id, start.retry)
            self._sending = None
            if not settled:  # its predecessor goes first, once it is queued here
                await workflow.sleep(WAIT_FOR_EARLIER)
                continue
            if delivery_id in self._queued_again:
                self._queued_again.discard(delivery_id)
            else:
                del self._queued[delivery_id]

    async def _something_queued(self) -> bool:
        try:
            await workflow.wait_condition(lambda: bool(self._queued), timeout=IDLE)
        except TimeoutError:
            return bool(self._queued)
        return True

    async def _send(self, delivery_id: int, retry: DeliveryRetry) -> bool:
        """Attempts a delivery until it is delivered or fails for good (True), or finds an earlier
        event still to go (False)."""
        give_up_at = workflow.now() + timedelta(seconds=retry.give_up_after_seconds)
        backoff = retry.initial_seconds
        while True:
            jittered = backoff * (0.8 + 0.4 * workflow.random().random())  # receivers recovering aren't stampeded
            outcome = await workflow.execute_activity_method(
                DeliveryActivities.attempt_delivery,
                DeliveryAttempt(delivery_id=delivery_id, backoff_seconds=jittered, give_up_at=give_up_at),
                start_to_close_timeout=ATTEMPT_TIMEOUT,
                retry_policy=ATTEMPT_RETRY,
            )
            if outcome.verdict is DeliveryVerdict.waiting:
                return False
            if outcome.verdict is not DeliveryVerdict.retry:
                return True
            await workflow.sleep(timedelta(seconds=outcome.retry_in_seconds or jittered))
            backoff = min(backoff * 2, retry.max_seconds)
