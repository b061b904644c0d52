"""Outbound webhook subscriptions and their deliveries: the tables' repository.

The delivery mechanism (HTTP, retries on a Temporal schedule) is not here; this is what it
reads and records:

    subs = Subscriptions(store.engine)
    created = subs.create("https://erp.example/hooks", ["refunded", "completed"], "ERP")  # created.secret: show once
    subs.rotate_secret(created.subscription.id, overlap=timedelta(hours=24))   # both secrets sign meanwhile
    subs.signing_secrets(sub_id)                                   # the live ones, newest first
    deliveries = Deliveries(store.engine)
    deliveries.enqueue(event)                                      # one per matching enabled subscription, idempotent
    deliveries.record_attempt(delivery.id, attempt=1, status_code=500, latency_ms=80, next_attempt_at=...)
    deliveries.blocking(delivery)                                  # an earlier event of the return still on its way?
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, and_, insert, or_, select, update

from store.db import write_transaction
from store.events import EventType, ReturnEvent
from store.schema import deliveries, delivery_attempts, subscriptions


class SubscriptionState(StrEnum):
    enabled = "enabled"
    disabled = "disabled"  # by an operator, or after failing for too long


class Outcome(StrEnum):
    pending = "pending"  # waiting for its first or next attempt
    delivered = "delivered"  # a 2xx
    failed = "failed"  # final: a 4xx other than 408/429, or retries exhausted


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    event_types: list[str]  # empty: every type
    description: str | None
    state: SubscriptionState
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


@dataclass(frozen=True)
class CreatedSubscription:
    subscription: Subscription
    secret: str  # shown once: only its owner keeps it


@dataclass(frozen=True)
class Delivery:
    id: int
    event_id: str
    subscription_id: str
    return_id: str
    sequence: int
    event_type: str
    outcome: Outcome
    attempts: int
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class Attempt:
    attempt: int
    at: datetime
    status_code: int | None
    latency_ms: int | None
    error: str | None


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _now() -> datetime:
    return datetime.now(UTC)


class UnknownSubscriptionError(LookupError):
    pass


class Subscriptions:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, url: str, event_types: Sequence[str] = (), description: str | None = None) -> CreatedSubscription:
        types = sorted({str(EventType(kind)) for kind in event_types})  # an unknown type raises ValueError
        now, secret = _now(), new_secret()
        row = {
            "id": "sub_" + secrets.token_hex(12),
            "url": url,
            "event_types": types,
            "description": description,
            "secret": secret,
            "state": SubscriptionState.enabled.value,
            "created_at": now,
            "updated_at": now,
        }
        with write_transaction(self.engine) as connection:
            connection.execute(insert(subscriptions).values(**row))
        return CreatedSubscription(self.get(row["id"]), secret)

    def get(self, subscription_id: str) -> Subscription:
        with self.engine.connect() as connection:
            row = connection.execute(select(subscriptions).where(subscriptions.c.id == subscription_id)).first()
        if row is None:
            raise UnknownSubscriptionError(subscription_id)
        return _subscription(row)

    def list(self, *, state: SubscriptionState | None = None) -> list[Subscription]:
        query = select(subscriptions).order_by(subscriptions.c.created_at, subscriptions.c.id)
        if state is not None:
            query = query.where(subscriptions.c.state == state.value)
        with self.engine.connect() as connection:
            return [_subscription(row) for row in connection.execute(query)]

    def update(
        self,
        subscription_id: str,
        *,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        description: str | None = None,
    ) -> Subscription:
        changes: dict[str, Any] = {"updated_at": _now()}
        if url is not None:
            changes["url"] = url
        if event_types is not None:
            changes["event_types"] = sorted({str(EventType(kind)) for kind in event_types})
        if description is not None:
            changes["description"] = description
        self._change(subscription_id, changes)
        return self.get(subscription_id)

    def disable(self, subscription_id: str, reason: str) -> Subscription:
        self._change(
            subscription_id,
            {"state": SubscriptionState.disabled.value, "disabled_reason": reason[:500], "updated_at": _now()},
        )
        return self.get(subscription_id)

    def enable(self, subscription_id: str) -> Subscription:
        self._change(
            subscription_id, {"state": SubscriptionState.enabled.value, "disabled_reason": None, "updated_at": _now()}
        )
        return self.get(subscription_id)

    def delete(self, subscription_id: str) -> None:
        with write_transaction(self.engine) as connection:
            connection.execute(deliveries.delete().where(deliveries.c.subscription_id == subscription_id))
            connection.execute(subscriptions.delete().where(subscriptions.c.id == subscription_id))

    def rotate_secret(self, subscription_id: str, *, overlap: timedelta = timedelta(hours=24)) -> str:
        """A new signing secret (shown once); the old one keeps signing for `overlap`, so a
        receiver can switch without dropping a delivery. Rotating again ends the older one."""
        now, secret = _now(), new_secret()
        with write_transaction(self.engine) as connection:
            current = connection.execute(
                select(subscriptions.c.secret).where(subscriptions.c.id == subscription_id).with_for_update()
            ).scalar()
            if current is None:
                raise UnknownSubscriptionError(subscription_id)
            connection.execute(
                update(subscriptions)
                .where(subscriptions.c.id == subscription_id)
                .values(
                    secret=secret,
                    previous_secret=current,
                    previous_secret_expires_at=now + overlap,
                    updated_at=now,
                )
            )
        return secret

    def signing_secrets(self, subscription_id: str, *, at: datetime | None = None) -> list[str]:
        """The secrets that sign a delivery now: the current one, then the previous one while
        its overlap lasts (a signature header carries one v1= per secret)."""
        at = at or _now()
        with self.engine.connect() as connection:
            row = connection.execute(select(subscriptions).where(subscriptions.c.id == subscription_id)).first()
        if row is None:
            raise UnknownSubscriptionError(subscription_id)
        live = [row.secret]
        if row.previous_secret and row.previous_secret_expires_at and row.previous_secret_expires_at > at:
            live.append(row.previous_secret)
        return live

    def matching(self, event_type: str) -> list[Subscription]:
        return [sub for sub in self.list(state=SubscriptionState.enabled) if sub.wants(event_type)]

    def _change(self, subscription_id: str, changes: dict[str, Any]) -> None:
        with write_transaction(self.engine) as connection:
            done = connection.execute(
                update(subscriptions).where(subscriptions.c.id == subscription_id).values(**changes)
            )
        if done.rowcount == 0:
            raise UnknownSubscriptionError(subscription_id)


class Deliveries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.subscriptions = Subscriptions(engine)

    def enqueue(self, event: ReturnEvent, *, at: datetime | None = None) -> list[Delivery]:
        """One pending delivery of `event` per enabled subscription that wants it. Calling it
        again for the same event adds nothing (unique per event and subscription)."""
        at = at or _now()
        wanted = self.subscriptions.matching(event.type.value)
        with write_transaction(self.engine) as connection:
            existing = set(
                connection.execute(
                    select(deliveries.c.subscription_id).where(deliveries.c.event_id == event.id)
                ).scalars()
            )
            rows = [
                {
                    "event_id": event.id,
                    "subscription_id": sub.id,
                    "return_id": event.return_id,
                    "sequence": event.sequence,
                    "event_type": event.type.value,
                    "outcome": Outcome.pending.value,
                    "attempts": 0,
                    "next_attempt_at": at,
                    "created_at": at,
                    "updated_at": at,
                }
                for sub in wanted
                if sub.id not in existing
            ]
            if rows:
                connection.execute(insert(deliveries), rows)
            found = connection.execute(
                select(deliveries).where(deliveries.c.event_id == event.id).order_by(deliveries.c.id)
            )
            return [_delivery(row) for row in found]

    def get(self, delivery_id: int) -> Delivery:
        with self.engine.connect() as connection:
            row = connection.execute(select(deliveries).where(deliveries.c.id == delivery_id)).first()
        if row is None:
            raise LookupError(f"no delivery {delivery_id}")
        return _delivery(row)

    def record_attempt(
        self,
        delivery_id: int,
        *,
        attempt: int,
        status_code: int | None = None,
        latency_ms: int | None = None,
        error: str | None = None,
        outcome: Outcome | None = None,
        next_attempt_at: datetime | None = None,
        at: datetime | None = None,
    ) -> Delivery:
        """Records attempt number `attempt` (1, 2, ...). Recording the same number again (a
        retried activity) changes nothing. Without an explicit outcome: a 2xx is delivered,
        anything else stays pending until `next_attempt_at` (None: failed for good)."""
        at = at or _now()
        if outcome is None:
            if status_code is not None and 200 <= status_code < 300:
                outcome = Outcome.delivered
            else:
                outcome = Outcome.pending if next_attempt_at is not None else Outcome.failed
        with write_transaction(self.engine) as connection:
            seen = connection.execute(
                select(delivery_attempts.c.attempt).where(
                    delivery_attempts.c.delivery_id == delivery_id, delivery_attempts.c.attempt == attempt
                )
            ).first()
            if seen is None:
                connection.execute(
                    insert(delivery_attempts).values(
                        delivery_id=delivery_id,
                        attempt=attempt,
                        at=at,
                        status_code=status_code,
                        latency_ms=latency_ms,
                        error=error[:500] if error else None,
                    )
                )
                connection.execute(
                    update(deliveries)
                    .where(deliveries.c.id == delivery_id, deliveries.c.attempts < attempt)
                    .values(
                        attempts=attempt,
                        last_status_code=status_code,
                        last_latency_ms=latency_ms,
                        last_error=error[:500] if error else None,
                        outcome=outcome.value,
                        next_attempt_at=next_attempt_at if outcome is Outcome.pending else None,
                        delivered_at=at if outcome is Outcome.delivered else None,
                        updated_at=at,
                    )
                )
        return self.get(delivery_id)

    def attempts(self, delivery_id: int) -> list[Attempt]:
        query = (
            select(delivery_attempts)
            .where(delivery_attempts.c.delivery_id == delivery_id)
            .order_by(delivery_attempts.c.attempt)
        )
        with self.engine.connect() as connection:
            return [Attempt(r.attempt, r.at, r.status_code, r.latency_ms, r.error) for r in connection.execute(query)]

    def of_return(self, subscription_id: str, return_id: str) -> list[Delivery]:
        """A subscription's deliveries of one return's events, in sequence order."""
        query = (
            select(deliveries)
            .where(deliveries.c.subscription_id == subscription_id, deliveries.c.return_id == return_id)
            .order_by(deliveries.c.sequence)
        )
        with self.engine.connect() as connection:
            return [_delivery(row) for row in connection.execute(query)]

    def blocking(self, delivery: Delivery) -> Delivery | None:
        """The earliest delivery of an earlier event of the same return to the same subscription
        that is still pending: per return and subscription, events go out in sequence order."""
        query = (
            select(deliveries)
            .where(
                deliveries.c.subscription_id == delivery.subscription_id,
                deliveries.c.return_id == delivery.return_id,
                deliveries.c.sequence < delivery.sequence,
                deliveries.c.outcome == Outcome.pending.value,
            )
            .order_by(deliveries.c.sequence)
            .limit(1)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return _delivery(row) if row else None

    def log(
        self,
        subscription_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        outcome: Outcome | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """A subscription's deliveries, newest first."""
        query = select(deliveries).where(deliveries.c.subscription_id == subscription_id)
        if since is not None:
            query = query.where(deliveries.c.created_at >= since)
        if until is not None:
            query = query.where(deliveries.c.created_at < until)
        if outcome is not None:
            query = query.where(deliveries.c.outcome == outcome.value)
        query = query.order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc()).limit(limit)
        with self.engine.connect() as connection:
            return [_delivery(row) for row in connection.execute(query)]

    def due(self, *, at: datetime | None = None, limit: int = 100) -> list[Delivery]:
        """Pending deliveries whose next attempt is due."""
        at = at or _now()
        query = (
            select(deliveries)
            .where(deliveries.c.outcome == Outcome.pending.value, deliveries.c.next_attempt_at <= at)
            .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [_delivery(row) for row in connection.execute(query)]

    def redeliver(
        self,
        subscription_id: str,
        *,
        event_id: str | None = None,
        return_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        at: datetime | None = None,
    ) -> int:
        """Makes deliveries pending again (one event, every event of a return, or a time range
        of event deliveries); answers how many. Their attempt log is kept."""
        if event_id is None and return_id is None and since is None:
            raise ValueError("name an event, a return or a start time")
        at = at or _now()
        conditions = [deliveries.c.subscription_id == subscription_id]
        if event_id is not None:
            conditions.append(deliveries.c.event_id == event_id)
        if return_id is not None:
            conditions.append(deliveries.c.return_id == return_id)
        if since is not None:
            conditions.append(deliveries.c.created_at >= since)
        if until is not None:
            conditions.append(deliveries.c.created_at < until)
        with write_transaction(self.engine) as connection:
            done = connection.execute(
                update(deliveries)
                .where(and_(*conditions), or_(deliveries.c.outcome != Outcome.pending.value, deliveries.c.attempts > 0))
                .values(outcome=Outcome.pending.value, next_attempt_at=at, delivered_at=None, updated_at=at)
            )
        return done.rowcount


def _subscription(row: Any) -> Subscription:
    return Subscription(
        id=row.id,
        url=row.url,
        event_types=list(row.event_types or []),
        description=row.description,
        state=SubscriptionState(row.state),
        disabled_reason=row.disabled_reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        event_id=row.event_id,
        subscription_id=row.subscription_id,
        return_id=row.return_id,
        sequence=row.sequence,
        event_type=row.event_type,
        outcome=Outcome(row.outcome),
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_latency_ms=row.last_latency_ms,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        delivered_at=row.delivered_at,
    )
