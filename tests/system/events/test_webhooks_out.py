"""Return events delivered to subscribers (outbound webhooks): the local stack's receiver verifies
each signature and records what arrived; it fails on purpose (500s, a hang past the 5 s timeout),
and events still arrive in sequence order, none lost, none twice. Real dev server and processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from devstack.demo import role_headers, run_demo
from devstack.stack import LocalStack, Ports
from store.store import EventStore
from tests.system.events.conftest import until

pytestmark = pytest.mark.devserver

FAST_RETRIES = {"webhook_retry_initial_seconds": 0.2, "webhook_retry_max_seconds": 1.0}


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    log_dir: Path = tmp_path_factory.mktemp("webhooks")
    async with LocalStack(ports=Ports.free(), ui=False, log_dir=log_dir, overrides=FAST_RETRIES) as stack:
        yield stack


def _arrived(stack: LocalStack, return_id: str) -> list[dict]:
    answer = httpx.get(f"{stack.receiver_url}/_receiver/events", params={"return_id": return_id}, timeout=10)
    return answer.json()


def _stored(stack: LocalStack, return_id: str) -> list[str]:
    store = EventStore.open(stack.settings.event_store_url.get_secret_value())
    try:
        return [event.id for event in store.events_of(return_id)]
    finally:
        store.close()


async def _all_arrived(stack: LocalStack, return_id: str, timeout: float = 60) -> list[dict]:
    """Waits until the receiver has every event the store has of the return, up to its completion
    (the demo's run itself ends weeks later)."""

    def caught_up() -> bool:
        stored = _stored(stack, return_id)
        completed = bool(stored) and stored[-1] == f"evt_{return_id}_{len(stored)}" and len(stored) >= 11
        return completed and [seen["event_id"] for seen in _arrived(stack, return_id)] == stored

    await until(caught_up, f"every event of {return_id} at the receiver", timeout)
    return _arrived(stack, return_id)


async def test_the_demo_returns_events_reach_the_receiver_verified_in_order_each_once(stack: LocalStack) -> None:
    await run_demo(stack.settings, stack.api_url, return_id="HOOK-DEMO")
    arrived = await _all_arrived(stack, "HOOK-DEMO")
    assert [seen["event_id"] for seen in arrived] == _stored(stack, "HOOK-DEMO")
    assert [seen["sequence"] for seen in arrived] == list(range(1, len(arrived) + 1))
    assert not any(seen["duplicate"] for seen in arrived)
    assert [seen["type"] for seen in arrived][:3] == ["requested", "approved", "label_issued"]
    assert "refunded" in [seen["type"] for seen in arrived]


async def test_a_failing_receiver_gets_every_event_in_order_once_after_retries(
    stack: LocalStack, operator: httpx.AsyncClient
) -> None:
    faults = f"{stack.receiver_url}/_sandbox/faults"
    async with httpx.AsyncClient(timeout=10) as receiver:
        for fault in ({"status": 500, "times": 6}, {"status": 503, "times": 2}, {"delay_seconds": 7, "times": 1}):
            (await receiver.post(faults, json={"path": "/events", **fault})).raise_for_status()
    await run_demo(stack.settings, stack.api_url, return_id="HOOK-FAIL")
    arrived = await _all_arrived(stack, "HOOK-FAIL", timeout=120)
    assert [seen["event_id"] for seen in arrived] == _stored(stack, "HOOK-FAIL")
    assert [seen["sequence"] for seen in arrived] == list(range(1, len(arrived) + 1))
    assert not any(seen["duplicate"] for seen in arrived)
    async with httpx.AsyncClient(timeout=10) as receiver:
        assert (await receiver.get(faults)).json() == []  # every fault fired

    subscription = next(
        s for s in (await operator.get("/event-subscriptions")).json() if "receiver" in s["description"]
    )
    log = (await operator.get(f"/event-subscriptions/{subscription['id']}/deliveries", params={"limit": 500})).json()
    attempts = [a for d in log if d["return_id"] == "HOOK-FAIL" for a in d["attempts"]]
    assert sorted(a["status_code"] for a in attempts if a["status_code"] not in (200, None)) == [500] * 6 + [503] * 2
    timeouts = [a for a in attempts if a["status_code"] is None]
    assert len(timeouts) == 1 and "Timeout" in timeouts[0]["error"] and timeouts[0]["latency_ms"] >= 4900
    assert all(d["outcome"] == "delivered" for d in log if d["return_id"] == "HOOK-FAIL")


async def test_an_endpoint_that_refuses_with_a_4xx_is_not_retried_and_redelivery_sends_again(
    stack: LocalStack, operator: httpx.AsyncClient
) -> None:
    # A second subscription to the same receiver: its secret is not the receiver's, so each
    # delivery is refused with a 400, once, for good.
    created = await operator.post(
        "/event-subscriptions",
        json={"url": f"{stack.receiver_url}/events", "event_types": ["approved"], "description": "wrong secret"},
    )
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    refused_id = created.json()["subscription"]["id"]
    await run_demo(stack.settings, stack.api_url, return_id="HOOK-4XX")
    await _all_arrived(stack, "HOOK-4XX")

    async def refused_log() -> list[dict]:
        return (await operator.get(f"/event-subscriptions/{refused_id}/deliveries")).json()

    for _ in range(100):
        log = await refused_log()
        if log and log[0]["outcome"] == "failed":
            break
        await asyncio.sleep(0.2)
    assert [(d["event_type"], d["outcome"], [a["status_code"] for a in d["attempts"]]) for d in log] == [
        ("approved", "failed", [400])
    ]

    receiver = next(s for s in (await operator.get("/event-subscriptions")).json() if "receiver" in s["description"])
    event_id = "evt_HOOK-4XX_2"
    again = await operator.post(f"/event-subscriptions/{receiver['id']}/redeliveries", json={"event_id": event_id})
    assert again.status_code == 202 and again.json() == {"queued": 1}
    await until(lambda: [a["event_id"] for a in _arrived(stack, "HOOK-4XX")].count(event_id) == 2, "redelivered")
    assert [a["duplicate"] for a in _arrived(stack, "HOOK-4XX") if a["event_id"] == event_id] == [False, True]


async def test_subscriptions_are_managed_by_operators_only_with_clear_refusals(
    stack: LocalStack, operator: httpx.AsyncClient
) -> None:
    created = (await operator.post("/event-subscriptions", json={"url": "https://erp.example/hooks"})).json()
    subscription_id = created["subscription"]["id"]
    assert created["subscription"]["event_types"] == [] and created["subscription"]["state"] == "enabled"
    shown = (await operator.get(f"/event-subscriptions/{subscription_id}")).json()
    assert "secret" not in shown  # shown once, at creation
    rotated = await operator.post(f"/event-subscriptions/{subscription_id}/secret-rotations")
    assert rotated.status_code == 201 and rotated.json()["secret"] not in (created["secret"], None)
    off = await operator.patch(
        f"/event-subscriptions/{subscription_id}", json={"state": "disabled", "reason": "ERP moving"}
    )
    assert (off.json()["state"], off.json()["disabled_reason"]) == ("disabled", "ERP moving")
    on = await operator.patch(f"/event-subscriptions/{subscription_id}", json={"state": "enabled"})
    assert (on.json()["state"], on.json()["disabled_reason"]) == ("enabled", None)
    unnamed = await operator.patch(f"/event-subscriptions/{subscription_id}", json={"state": "disabled"})
    assert unnamed.json()["disabled_reason"].startswith("disabled by operator:")  # who, when no reason is given
    assert (await operator.patch(f"/event-subscriptions/{subscription_id}", json={"state": "off"})).status_code == 422
    missing = await operator.patch("/event-subscriptions/sub_000000000000000000000000", json={"state": "enabled"})
    assert missing.status_code == 404

    assert (await operator.post("/event-subscriptions", json={"url": "ftp://x.example"})).status_code == 422
    unknown_type = await operator.post("/event-subscriptions", json={"url": "https://a.example", "event_types": ["x"]})
    assert unknown_type.status_code == 422
    assert (await operator.get("/event-subscriptions/sub_000000000000000000000000")).status_code == 404
    nothing = await operator.post(f"/event-subscriptions/{subscription_id}/redeliveries", json={})
    assert nothing.status_code == 422
    shop = role_headers(stack.settings, "storefront", "shop-web")
    async with httpx.AsyncClient(base_url=f"{stack.api_url}/v1", timeout=30) as anyone:
        assert (await anyone.get("/event-subscriptions", headers=shop)).status_code == 403
        assert (await anyone.get("/event-subscriptions")).status_code == 401
