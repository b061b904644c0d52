"""Subscriptions and deliveries: the tables the outbound webhooks will run on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from store.events import EventType
from store.webhooks import Deliveries, Outcome, Subscriptions, SubscriptionState, UnknownSubscriptionError
from tests.integration.store.builders import at
from tests.integration.store.dataset import march_2025


@pytest.fixture
def r1(store):
    script = march_2025()[0]
    for event in script.events:
        store.append(event)
    return script.events


def test_a_subscription_is_created_with_a_secret_shown_once_and_can_rotate_it(store):
    subs = Subscriptions(store.engine)
    created = subs.create("https://erp.example/hooks", ["refunded", "completed", "refunded"], "ERP")
    sub = created.subscription
    assert created.secret.startswith("whsec_") and sub.event_types == ["completed", "refunded"]
    assert sub.state is SubscriptionState.enabled and sub.description == "ERP"
    assert not hasattr(sub, "secret")  # what lists and reads answer never carries it
    assert subs.signing_secrets(sub.id) == [created.secret]

    rotated = subs.rotate_secret(sub.id, overlap=timedelta(hours=1))
    assert subs.signing_secrets(sub.id) == [rotated, created.secret]  # both sign during the overlap
    later = subs.get(sub.id).updated_at + timedelta(hours=2)
    assert subs.signing_secrets(sub.id, at=later) == [rotated]
    with pytest.raises(ValueError):
        subs.create("https://x.example", ["no_such_type"])
    with pytest.raises(UnknownSubscriptionError):
        subs.rotate_secret("sub_missing")


def test_disabled_or_uninterested_subscriptions_get_no_delivery(store, r1):
    subs, deliveries = Subscriptions(store.engine), Deliveries(store.engine)
    everything = subs.create("https://a.example/h").subscription
    refunds = subs.create("https://b.example/h", [EventType.refunded]).subscription
    off = subs.create("https://c.example/h").subscription
    subs.disable(off.id, "failing for 3 days")
    assert subs.get(off.id).disabled_reason == "failing for 3 days"
    refunded = next(e for e in r1 if e.type is EventType.refunded)
    queued = deliveries.enqueue(refunded, at=at("2025-03-05 16:00"))
    assert {d.subscription_id for d in queued} == {everything.id, refunds.id}
    assert deliveries.enqueue(refunded) == queued  # again: nothing new
    assert [d.subscription_id for d in deliveries.enqueue(r1[0])] == [everything.id]


def test_attempts_are_logged_once_each_and_decide_the_outcome(store, r1):
    subs, deliveries = Subscriptions(store.engine), Deliveries(store.engine)
    sub = subs.create("https://a.example/h").subscription
    first, second = (deliveries.enqueue(event, at=at("2025-03-05 16:00"))[0] for event in r1[:2])
    retry_at = at("2025-03-05 16:05")
    failed = deliveries.record_attempt(first.id, attempt=1, status_code=503, latency_ms=120, next_attempt_at=retry_at)
    assert (failed.outcome, failed.attempts, failed.last_status_code, failed.next_attempt_at) == (
        Outcome.pending,
        1,
        503,
        retry_at,
    )
    # per return and subscription, the second event waits for the first
    assert deliveries.blocking(second).id == first.id
    assert [d.id for d in deliveries.due(at=at("2025-03-05 16:04"))] == [second.id]
    assert {d.id for d in deliveries.due(at=retry_at)} == {first.id, second.id}

    done = deliveries.record_attempt(first.id, attempt=2, status_code=200, latency_ms=80, at=retry_at)
    assert done.outcome is Outcome.delivered and done.delivered_at == retry_at and done.next_attempt_at is None
    again = deliveries.record_attempt(first.id, attempt=2, status_code=500)  # a retried activity records it again
    assert again == done
    assert [(a.attempt, a.status_code) for a in deliveries.attempts(first.id)] == [(1, 503), (2, 200)]
    assert deliveries.blocking(second) is None

    final = deliveries.record_attempt(second.id, attempt=1, status_code=410)
    assert final.outcome is Outcome.failed
    assert [d.id for d in deliveries.log(sub.id, outcome=Outcome.failed)] == [second.id]


def test_redelivery_of_an_event_or_a_whole_return(store, r1):
    subs, deliveries = Subscriptions(store.engine), Deliveries(store.engine)
    sub = subs.create("https://a.example/h").subscription
    queued = [deliveries.enqueue(event, at=at("2025-03-05 16:00"))[0] for event in r1]
    for delivery in queued:
        deliveries.record_attempt(delivery.id, attempt=1, status_code=204)
    assert deliveries.redeliver(sub.id, event_id=r1[0].id, at=at("2025-03-06 00:00")) == 1
    assert deliveries.get(queued[0].id).outcome is Outcome.pending
    assert deliveries.redeliver(sub.id, return_id="R1") == len(r1)
    assert all(d.outcome is Outcome.pending for d in deliveries.log(sub.id, limit=100))
    subs.delete(sub.id)
    with pytest.raises(UnknownSubscriptionError):
        subs.get(sub.id)
