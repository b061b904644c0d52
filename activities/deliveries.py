"""Delivering return events to subscribers: one signed POST per attempt, recorded in the delivery log.

The attempt's verdict follows the receiver's answer: a 2xx is delivered; a timeout, a connection
error, 408, 429 or a 5xx is retried (after its Retry-After when it sends one); anything else
(another 4xx, a redirect) fails for good. EventDeliveryWorkflow waits and sends the next attempt.

The URL is checked again before every attempt, as when the subscription was made: a name that
resolved to a public address then may resolve to a private one now (DNS rebinding), and an event
must never be posted into the shop's own network. Such an attempt sends nothing and is retried.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import structlog
from temporalio import activity

from activities.models import AttemptOutcome, DeliveryAttempt, DeliveryVerdict
from integrations.webhook_urls import RefusedUrl, checked_url
from starter.event_signatures import EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, signature_header
from store.store import EventStore
from store.webhooks import Deliveries, Delivery, Outcome, Subscription, SubscriptionState

log = structlog.get_logger(__name__)

POST_TIMEOUT_SECONDS = 5.0
RETRIED_STATUSES = frozenset({408, 429})
OUTCOMES = {
    DeliveryVerdict.delivered: Outcome.delivered,
    DeliveryVerdict.retry: Outcome.pending,
    DeliveryVerdict.failed: Outcome.failed,
}
VERDICTS = {outcome: verdict for verdict, outcome in OUTCOMES.items()}


class DeliveryActivities:
    def __init__(self, store: EventStore, http: httpx.AsyncClient | None = None, *, allow_private_urls: bool = False):
        self._store = store
        self._allow_private_urls = allow_private_urls
        self._deliveries = Deliveries(store.engine) if store is not None else None
        # No redirects: a subscription's URL is the one checked when it was created.
        self._http = http or httpx.AsyncClient(timeout=POST_TIMEOUT_SECONDS, follow_redirects=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    @activity.defn(name="attempt_delivery")
    async def attempt_delivery(self, attempt: DeliveryAttempt) -> AttemptOutcome:
        delivery = await asyncio.to_thread(self._deliveries.get, attempt.delivery_id)
        subscription = await asyncio.to_thread(self._deliveries.subscriptions.get, delivery.subscription_id)
        logger = log.bind(return_id=delivery.return_id, event_id=delivery.event_id, subscription_id=subscription.id)
        if delivery.outcome is not Outcome.pending:  # queued again after it went out: nothing to do
            return AttemptOutcome(verdict=VERDICTS[delivery.outcome])
        if await asyncio.to_thread(self._earlier_to_go, delivery, subscription):
            return AttemptOutcome(verdict=DeliveryVerdict.waiting)
        number = delivery.attempts + 1
        if subscription.state is SubscriptionState.disabled:
            await self._record(delivery.id, number, error="the subscription is disabled", outcome=Outcome.failed)
            return AttemptOutcome(verdict=DeliveryVerdict.failed)
        event = await asyncio.to_thread(self._store.event, delivery.event_id)
        body = event.model_dump_json().encode()
        secrets = await asyncio.to_thread(self._deliveries.subscriptions.signing_secrets, subscription.id)
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: event.id,
            EVENT_TYPE_HEADER: event.type.value,
            SIGNATURE_HEADER: signature_header(body, secrets),
        }
        started = time.perf_counter()
        status, error, retry_after = None, None, None
        try:
            url = await checked_url(subscription.url, allow_private=self._allow_private_urls)
            response = await self._http.post(url, content=body, headers=headers)
            status, retry_after = response.status_code, _retry_after(response.headers.get("Retry-After"))
        except RefusedUrl as refused:  # not sent: the name now resolves somewhere it may not go
            error = f"not sent: {refused.message}"
            logger.warning("webhook url refused at delivery", reason=refused.message)
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"[:500]
        latency_ms = int((time.perf_counter() - started) * 1000)
        verdict = _verdict(status)
        wait = retry_after if retry_after is not None else attempt.backoff_seconds
        now = activity.info().current_attempt_scheduled_time  # Temporal's clock, as give_up_at is
        if verdict is DeliveryVerdict.retry and now + timedelta(seconds=wait) > attempt.give_up_at:
            verdict = DeliveryVerdict.failed
            reason = f"a delivery kept failing until {attempt.give_up_at:%Y-%m-%d %H:%M} UTC (last: {status or error})"
            await asyncio.to_thread(self._deliveries.subscriptions.disable, subscription.id, reason)
            logger.error("webhook endpoint disabled", reason=reason, status_code=status)
        outcome = OUTCOMES[verdict]
        next_at = now + timedelta(seconds=wait) if verdict is DeliveryVerdict.retry else None
        await self._record(
            delivery.id,
            number,
            status_code=status,
            latency_ms=latency_ms,
            error=error,
            outcome=outcome,
            next_attempt_at=next_at,
        )
        logger.info("event delivery attempted", attempt=number, status_code=status, verdict=verdict.value)
        return AttemptOutcome(verdict=verdict, retry_in_seconds=wait if verdict is DeliveryVerdict.retry else None)

    def _earlier_to_go(self, delivery: Delivery, subscription: Subscription) -> bool:
        """Whether an earlier event of the return, for this subscription, is not stored yet or not
        out yet (delivered or failed for good): per return and subscription, events go in order.
        Events from before the subscription existed have no delivery and wait for nothing."""
        earlier = self._store.events_of(delivery.return_id, limit=delivery.sequence - 1)
        if [event.sequence for event in earlier] != list(range(1, delivery.sequence)):
            return True
        queued = {d.sequence: d for d in self._deliveries.of_return(subscription.id, delivery.return_id)}
        for event in earlier:
            if not subscription.wants(event.type.value):
                continue
            queued_earlier = queued.get(event.sequence)
            if queued_earlier is None:
                if event.created_at >= subscription.created_at:
                    return True  # its delivery is being queued
            elif queued_earlier.outcome is Outcome.pending:
                return True
        return False

    async def _record(self, delivery_id: int, number: int, **details: object) -> None:
        await asyncio.to_thread(lambda: self._deliveries.record_attempt(delivery_id, attempt=number, **details))


def _verdict(status: int | None) -> DeliveryVerdict:
    if status is None or status in RETRIED_STATUSES or status >= 500:
        return DeliveryVerdict.retry
    return DeliveryVerdict.delivered if 200 <= status < 300 else DeliveryVerdict.failed


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (it may be a number of seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None
