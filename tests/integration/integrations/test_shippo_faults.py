"""ShippoLabels when Shippo misbehaves: errors classified, hangs cut short, lost answers found, odd answers survived."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import requests

from integrations import shippo_labels
from integrations.errors import IntegrationError
from integrations.shippo_labels import ShippoLabels
from tests.integration.integrations.shippo_requests import buy_label, label_request, labels_bought_for
from workflows.contract import label_metadata

if TYPE_CHECKING:
    from tests.conftest import Sandboxes


@pytest.fixture(autouse=True)
def no_faults_left(sandboxes: Sandboxes) -> Iterator[None]:
    yield
    httpx.delete(f"{sandboxes.shippo_url}/_sandbox/faults", timeout=10).raise_for_status()


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_server_errors_and_rate_limits_are_retryable(sandboxes: Sandboxes, status: int) -> None:
    sandboxes.fault("shippo", method="POST", path="/shipments", status=status)
    with pytest.raises(IntegrationError) as failed:
        await buy_label(ShippoLabels(sandboxes.settings()), label_request(), look_for_earlier_purchase=False)
    assert (failed.value.code, failed.value.retryable, failed.value.status) == (f"shippo.http_{status}", True, status)


async def test_bad_request_is_permanent_and_keeps_shippos_words(sandboxes: Sandboxes) -> None:
    labels = ShippoLabels(sandboxes.settings())
    with pytest.raises(IntegrationError) as refused:
        await labels.void_label("0" * 32)
    assert (refused.value.code, refused.value.retryable) == ("shippo.http_400", False)
    assert f"Transaction with object_id {'0' * 32} not found." in refused.value.message


async def test_a_hanging_shippo_times_out_without_blocking_the_event_loop(sandboxes: Sandboxes) -> None:
    sandboxes.fault("shippo", method="POST", path="/shipments", delay_seconds=3)
    labels = ShippoLabels(sandboxes.settings(shippo_read_timeout_seconds=0.5))
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    with pytest.raises(IntegrationError) as timed_out:
        await buy_label(labels, label_request(), look_for_earlier_purchase=False)
    elapsed = time.monotonic() - started
    ticker.cancel()
    assert (timed_out.value.code, timed_out.value.retryable) == ("shippo.network", True)
    assert elapsed < 2.5
    assert ticks >= 5  # the loop kept running while the SDK waited in its thread


Intercept = Callable[[requests.PreparedRequest, requests.Response], requests.Response]


def intercept_answers(monkeypatch: pytest.MonkeyPatch, intercept: Intercept) -> None:
    """Lets `intercept` see, change or lose every answer Shippo gives, before the SDK reads it."""
    send = shippo_labels._TimeoutSession.send

    def intercepted(
        session: requests.Session, request: requests.PreparedRequest, **kwargs: object
    ) -> requests.Response:
        return intercept(request, send(session, request, **kwargs))  # type: ignore[arg-type]

    monkeypatch.setattr(shippo_labels._TimeoutSession, "send", intercepted)


def rewrite_json(response: requests.Response, rewrite: Callable[[dict[str, Any]], None]) -> requests.Response:
    body = response.json()
    rewrite(body)
    response._content = json.dumps(body).encode()
    return response


async def test_a_retry_finds_the_label_whose_answer_was_lost(
    sandboxes: Sandboxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shippo bought the label but its answer never arrived; the retry must not buy a second one."""
    lost_answers = []

    def lose_the_purchase(request: requests.PreparedRequest, response: requests.Response) -> requests.Response:
        if request.method == "POST" and request.path_url == "/transactions" and not lost_answers:
            lost_answers.append(response)
            raise requests.ReadTimeout("the answer was lost on its way back")
        return response

    intercept_answers(monkeypatch, lose_the_purchase)
    labels = ShippoLabels(sandboxes.settings())
    request = label_request()
    with pytest.raises(IntegrationError) as lost:
        await buy_label(labels, request, look_for_earlier_purchase=False)
    assert (lost.value.code, lost.value.retryable) == ("shippo.network", True)
    assert lost_answers[0].status_code == 201

    label = await buy_label(labels, request, look_for_earlier_purchase=True)
    [bought] = labels_bought_for(sandboxes, request.return_id)
    assert label.transaction_id == bought["object_id"]


async def test_an_answer_the_sdk_cannot_parse_is_permanent(
    sandboxes: Sandboxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's trap: a Transaction without `created_by` fails to parse, however often it is read."""

    def drop_created_by(request: requests.PreparedRequest, response: requests.Response) -> requests.Response:
        if request.path_url == "/transactions":
            return rewrite_json(response, lambda body: body.pop("created_by"))
        return response

    intercept_answers(monkeypatch, drop_created_by)
    with pytest.raises(IntegrationError) as unreadable:
        await buy_label(ShippoLabels(sandboxes.settings()), label_request(), look_for_earlier_purchase=False)
    assert (unreadable.value.code, unreadable.value.retryable) == ("shippo.unparseable_response", False)


async def test_tracking_registration_survives_a_status_the_sdk_does_not_know(
    sandboxes: Sandboxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def new_status(request: requests.PreparedRequest, response: requests.Response) -> requests.Response:
        if request.path_url == "/tracks":
            return rewrite_json(response, lambda body: body["tracking_status"].update(status="TELEPORTED"))
        return response

    intercept_answers(monkeypatch, new_status)
    await ShippoLabels(sandboxes.settings()).register_tracking(
        "shippo", "SHIPPO_TRANSIT", metadata=label_metadata("R-new-status")
    )
