"""Operator actions carry an Idempotency-Key: a retry after a 503 never acts twice.

Its own stack, with a short TEMPORAL_RPC_TIMEOUT_SECONDS, because it stops the worker: with no
worker the update can't finish, so the API answers 503 while the update waits at the server for
a worker. The operator's client retries, as it should after a 503; when a worker is back, the
deadline has moved once per key, whatever the number of attempts.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from devstack.stack import LocalStack, Ports
from tests.system.api.doors import Doors, eventually
from workflows.models import ReturnStatus
from workflows.vocabulary import Stage

pytestmark = pytest.mark.devserver

RPC_TIMEOUT_SECONDS = 2.0
EXTENSION = {"deadline": "ship_by", "days": 3, "reason": "shopper travelling"}


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    overrides = {"temporal_rpc_timeout_seconds": RPC_TIMEOUT_SECONDS}
    async with LocalStack(
        ports=Ports.free(), ui=False, log_dir=tmp_path_factory.mktemp("stack"), overrides=overrides
    ) as stack:
        yield stack


async def extend(doors: Doors, return_id: str, key: str | None) -> int:
    headers = doors.headers("operator") | ({"Idempotency-Key": key} if key else {})
    response = await doors.http.post(f"/v1/returns/{return_id}/deadline-extensions", json=EXTENSION, headers=headers)
    return response.status_code


async def extended_by(doors: Doors, before: ReturnStatus, days: int) -> timedelta:
    """How far ship_by moved, once the return has caught up with what it was sent."""
    expected = timedelta(days=days)

    async def moved() -> timedelta:
        try:
            status = await doors.status(before.return_id)
        except httpx.HTTPStatusError as error:  # the new worker is not polling yet
            assert error.response.status_code == 503
            return timedelta(0)
        return status.deadlines["ship_by"] - before.deadlines["ship_by"]

    await eventually(moved, lambda by: by >= expected, timeout=30)
    await asyncio.sleep(1)  # a second extension, were one coming, would land by now
    return await moved()


async def retried_while_no_worker_runs(doors: Doors, key: str | None) -> tuple[ReturnStatus, list[int]]:
    status = await doors.started(Stage.label_issued)
    doors.stack.kill_workers()
    try:
        answers = [await extend(doors, status.return_id, key) for _ in range(2)]
    finally:
        doors.stack.start_worker()
    return status, answers


async def test_a_retried_extension_with_its_key_moves_the_deadline_once(doors: Doors) -> None:
    key = uuid.uuid4().hex
    before, answers = await retried_while_no_worker_runs(doors, key)

    assert answers == [503, 503]
    assert await extended_by(doors, before, 3) == timedelta(days=3)
    assert await extend(doors, before.return_id, key) == 200  # answered, not applied again
    assert await extended_by(doors, before, 3) == timedelta(days=3)
    entries = [e for e in (await doors.status(before.return_id)).timeline if "shopper travelling" in e.detail]
    assert len(entries) == 1


async def test_without_a_key_each_retry_is_another_extension(doors: Doors) -> None:
    """Why the key matters: the same retries without one extend the deadline once per attempt."""
    before, answers = await retried_while_no_worker_runs(doors, None)
    assert answers == [503, 503]
    assert await extended_by(doors, before, 6) == timedelta(days=6)


async def test_a_key_is_its_caller_s_and_its_action_s_own(doors: Doors) -> None:
    """The same key from another operator, or for another action, is not a retry of the first."""
    status = await doors.started(Stage.needs_review, order_changes={"customer_return_count": 11})
    key = {"Idempotency-Key": uuid.uuid4().hex}
    path = f"/v1/returns/{status.return_id}"
    review = {"deadline": "review", "days": 1, "reason": "waiting for the customer"}

    by_kim = await doors.http.post(f"{path}/deadline-extensions", json=review, headers=doors.key_of("kim") | key)
    by_lee = await doors.http.post(f"{path}/deadline-extensions", json=review, headers=doors.key_of("lee") | key)
    approved = await doors.http.post(f"{path}/approve", json={"reason": "ok"}, headers=doors.key_of("kim") | key)

    assert (by_kim.status_code, by_lee.status_code, approved.status_code) == (200, 200, 200)
    moved = ReturnStatus.model_validate_json(by_lee.content).deadlines["review"] - status.deadlines["review"]
    assert moved == timedelta(days=2)
    assert (await doors.wait_for(status.return_id, Stage.label_issued)).stage is Stage.label_issued
