"""The storefront's door over HTTP, against the real dev server and worker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid

import httpx
import pytest

from devstack.demo import carrier_reports
from starter.client import ReturnsClient
from tests.system.api.doors import Doors, eventually, exists
from workflows.contract import workflow_id_for
from workflows.models import ReturnLine, ReturnStatus, StartReturn, TimelineEntry
from workflows.return_workflow import ReturnWorkflow
from workflows.vocabulary import ReasonCode, ReturnMethod, Stage, TrackingStatus

pytestmark = pytest.mark.devserver


async def test_eligibility_answers_per_line_and_starts_nothing(doors: Doors, returns: ReturnsClient) -> None:
    request = await doors.new_request()
    stranger = ReturnLine(line_id="L9", sku="HAT", quantity=1, unit_price=100, reason=ReasonCode.unwanted)
    request = request.model_copy(update={"lines": [*request.lines, stranger]})

    response = await doors.http.post(
        "/v1/eligibility", json=request.model_dump(mode="json"), headers=doors.headers("storefront")
    )

    assert response.status_code == 200
    answer = response.json()
    assert answer["eligible"] is True
    assert {line["line_id"]: line["decline_reason"] for line in answer["lines"]} == {
        "L1": None,
        "L2": None,
        "L9": "not_in_order",
    }
    assert not await exists(returns, request.return_id)


async def test_eligibility_of_an_unknown_order_names_the_field(doors: Doors) -> None:
    request = (await doors.new_request()).model_copy(update={"order_id": "ORD-nowhere"})
    response = await doors.http.post(
        "/v1/eligibility", json=request.model_dump(mode="json"), headers=doors.headers("operator")
    )
    assert response.status_code == 422
    assert [problem["field"] for problem in response.json()["fields"]] == ["order_id"]


async def test_a_return_of_an_unknown_order_is_422_and_starts_nothing(doors: Doors, returns: ReturnsClient) -> None:
    request = (await doors.new_request()).model_copy(update={"order_id": "ORD-nowhere"})

    response = await doors.start(request)

    assert response.status_code == 422
    assert [problem["field"] for problem in response.json()["fields"]] == ["order_id"]
    assert not await exists(returns, request.return_id)


async def test_start_is_idempotent_and_a_different_body_is_a_conflict(doors: Doors, returns: ReturnsClient) -> None:
    request = await doors.new_request()

    first = await doors.start(request)
    again = await doors.start(request)
    different = await doors.start(request.model_copy(update={"method": ReturnMethod.in_store}))

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.headers["location"] == again.headers["location"] == f"/v1/returns/{request.return_id}"
    assert first.json()["return_id"] == again.json()["return_id"] == request.return_id
    assert different.status_code == 409
    assert different.json()["error"] == "conflict"
    assert (await returns.status(request.return_id)).customer_id == request.customer_id


async def test_status_and_timeline(doors: Doors) -> None:
    status = await doors.started(Stage.label_issued)
    headers = doors.headers("storefront")

    got = await doors.http.get(f"/v1/returns/{status.return_id}", headers=headers)
    timeline = await doors.http.get(f"/v1/returns/{status.return_id}/timeline", headers=headers)

    assert ReturnStatus.model_validate_json(got.content).stage is Stage.label_issued
    entries = [TimelineEntry.model_validate(entry) for entry in timeline.json()]
    assert entries[0].actor == "shop" and entries[-1].stage is Stage.label_issued


@pytest.mark.parametrize("path", ["/v1/returns/R-unknown", "/v1/returns/R-unknown/timeline"])
async def test_unknown_return_is_404(doors: Doors, path: str) -> None:
    response = await doors.http.get(path, headers=doors.headers("storefront"))
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "message": "no return with id 'R-unknown'",
        "return_id": "R-unknown",
        "fields": [],
    }


async def test_invalid_body_is_422_with_the_offending_field_and_starts_nothing(
    doors: Doors, returns: ReturnsClient
) -> None:
    body = (await doors.new_request()).model_dump(mode="json")
    body["lines"][0]["quantity"] = 0

    response = await doors.http.post("/v1/returns", json=body, headers=doors.headers("storefront"))

    assert response.status_code == 422
    problems = response.json()["fields"]
    assert [(problem["location"], problem["field"]) for problem in problems] == [("body", "lines.0.quantity")]
    assert not await exists(returns, body["return_id"])


@pytest.mark.parametrize(
    ("content", "content_type", "says"),
    [
        (b"not json", "application/json", "the request body is not JSON: Expecting value at character 0"),
        (b'{"return_id": "R-1",', "application/json", "the request body is not JSON: Expecting property name"),
        (b'{"return_id": "R-1"}', "text/plain", "it was sent as text/plain; send it as application/json"),
        (b"[" * 100_000, "application/json", "the request body is not JSON: it can't be parsed"),
    ],
    ids=["garbage", "truncated", "not sent as JSON", "nested too deeply"],
)
async def test_a_body_that_is_not_json_is_400_saying_so_and_starts_nothing(
    doors: Doors, content: bytes, content_type: str, says: str
) -> None:
    headers = {**doors.headers("storefront"), "Content-Type": content_type}

    response = await doors.http.post("/v1/returns", content=content, headers=headers)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_json"
    assert says in response.json()["message"]


@pytest.mark.parametrize("unit_price", [100_000_000, 2**63, 2**70, -1], ids=["9 digits", "2^63", "2^70", "negative"])
async def test_amounts_beyond_what_stripe_accepts_are_refused_at_the_door(
    doors: Doors, returns: ReturnsClient, unit_price: int
) -> None:
    body = (await doors.new_request()).model_dump(mode="json")
    body["lines"][0]["unit_price"] = unit_price

    response = await doors.http.post("/v1/returns", json=body, headers=doors.headers("storefront"))

    assert response.status_code == 422
    assert [problem["field"] for problem in response.json()["fields"]] == ["lines.0.unit_price"]
    assert not await exists(returns, body["return_id"])


@pytest.mark.parametrize(
    "text", ["a\x00b", "\x1b[31mred", "bell\x07", "flip\u202eped"], ids=["NUL", "ESC", "BEL", "RLO"]
)
async def test_control_characters_in_any_text_are_refused_naming_the_field(
    doors: Doors, returns: ReturnsClient, text: str
) -> None:
    body = (await doors.new_request()).model_dump(mode="json")
    body["customer_address"]["name"] = text

    response = await doors.http.post("/v1/returns", json=body, headers=doors.headers("storefront"))

    assert response.status_code == 422
    assert response.json()["fields"] == [
        {"field": "customer_address.name", "message": "control characters are not allowed"}
    ]
    assert not await exists(returns, body["return_id"])


async def test_a_return_no_worker_serves_is_503_with_retry_after(doors: Doors, returns: ReturnsClient) -> None:
    """Its status needs a worker: after TEMPORAL_RPC_TIMEOUT_SECONDS the API says when to try again."""
    request = await doors.new_request()
    await returns.temporal.start_workflow(
        ReturnWorkflow.run,
        StartReturn(request=request, policy=returns.policy),
        id=workflow_id_for(request.return_id),
        task_queue=f"nobody-polls-{uuid.uuid4().hex[:8]}",
    )

    response = await doors.http.get(f"/v1/returns/{request.return_id}", headers=doors.headers("storefront"))

    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
    assert int(response.headers["Retry-After"]) > 0


async def test_listing_filters_by_customer_order_and_stage_and_pages(doors: Doors) -> None:
    customer = f"CUS-{uuid.uuid4().hex[:8]}"
    started = [await doors.started(Stage.label_issued, customer_id=customer) for _ in range(3)]
    headers = doors.headers("storefront")

    async def page(**params: object) -> dict:
        response = await doors.http.get("/v1/returns", params={"customer_id": customer, **params}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    first = await eventually(lambda: page(page_size=2), lambda body: body["next_page_token"] is not None)
    rest = await page(page_size=2, page_token=first["next_page_token"])
    by_order = await page(order_id=started[0].order_id)
    by_stage = await eventually(lambda: page(stage="label_issued"), lambda body: len(body["returns"]) == 3)

    listed = [summary["return_id"] for summary in first["returns"] + rest["returns"]]
    assert sorted(listed) == sorted(status.return_id for status in started)
    assert rest["next_page_token"] is None
    assert [summary["return_id"] for summary in by_order["returns"]] == [started[0].return_id]
    assert {summary["stage"] for summary in by_stage["returns"]} == {"label_issued"}


async def test_listing_refuses_a_forged_page_token(doors: Doors) -> None:
    response = await doors.http.get(
        "/v1/returns", params={"page_token": "bm90LWEtdG9rZW4="}, headers=doors.headers("storefront")
    )
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "page_token"


async def test_shopper_cancels_before_shipping_but_not_after(doors: Doors) -> None:
    waiting = await doors.started(Stage.label_issued)
    shipped = await doors.started(Stage.label_issued)
    await _scan(doors, shipped, TrackingStatus.transit)
    await doors.wait_for(shipped.return_id, Stage.in_transit)
    body = {"reason": "changed my mind", "actor": "shopper-ada"}

    cancelled = await doors.act("storefront", waiting.return_id, "cancel", body)
    refused = await doors.act("storefront", shipped.return_id, "cancel", body)

    assert cancelled.status_code == 200
    final = await doors.wait_for(waiting.return_id, Stage.cancelled)
    assert final.stage is Stage.cancelled
    assert any(entry.actor == "storefront:shop-web for shopper-ada" for entry in final.timeline)
    assert refused.status_code == 409
    assert refused.json() | {"message": ""} == {
        "error": "invalid_state",
        "message": "",
        "return_id": shipped.return_id,
        "stage": "in_transit",
        "fields": [],
    }


async def test_an_action_that_names_nobody_is_the_key_holder_s(doors: Doors) -> None:
    status = await doors.started(Stage.label_issued)
    headers = {"X-API-Key": doors.headers("storefront")["X-API-Key"]}  # no X-Actor
    response = await doors.http.post(f"/v1/returns/{status.return_id}/cancel", json={"reason": "oops"}, headers=headers)
    assert response.status_code == 200, response.text
    final = await doors.wait_for(status.return_id, Stage.cancelled)
    assert any(entry.actor == "storefront:shop-web" and "oops" in entry.detail for entry in final.timeline)


async def test_bodies_over_the_limit_are_413_whether_declared_or_streamed(doors: Doors, returns: ReturnsClient) -> None:
    request = await doors.new_request()
    body = request.model_dump_json().encode()
    padded = body[:-1] + b', "padding": "' + b"x" * doors.stack.settings.api_max_body_bytes + b'"}'

    async def streamed():
        for start in range(0, len(padded), 16_384):
            yield padded[start : start + 16_384]

    headers = {**doors.headers("storefront"), "Content-Type": "application/json"}
    declared = await doors.http.post("/v1/returns", content=padded, headers=headers)
    chunked = await doors.http.post("/v1/returns", content=streamed(), headers=headers)

    assert (declared.status_code, chunked.status_code) == (413, 413)
    assert chunked.json()["error"] == "payload_too_large"
    assert not await exists(returns, request.return_id)


async def _scan(doors: Doors, status: ReturnStatus, scan: TrackingStatus) -> None:
    assert status.label is not None
    await carrier_reports(doors.http, doors.stack.settings, status.label.tracking_number, scan)


async def test_money_facts_the_order_contradicts_are_refused_and_start_nothing(
    doors: Doors, returns: ReturnsClient
) -> None:
    request = await doors.new_request()
    for changes, field in (
        ({"payment_intent_id": "pi_someone_elses"}, "payment_intent_id"),
        ({"customer_id": "CUS-mallory"}, "customer_id"),
        ({"currency": "EUR"}, "currency"),
        (
            {"lines": [request.lines[0].model_copy(update={"unit_price": 99_999}), *request.lines[1:]]},
            "lines.0.unit_price",
        ),
    ):
        response = await doors.start(request.model_copy(update=changes))
        assert response.status_code == 422, response.text
        assert [problem["field"] for problem in response.json()["fields"]] == [field]
        assert not await exists(returns, request.return_id)
    facts_left_out = request.model_copy(update={"customer_id": None, "currency": None, "payment_intent_id": None})
    started = await doors.start(facts_left_out)
    assert started.status_code == 201
    assert (started.json()["customer_id"], started.json()["currency"]) == ("CUS-ada", "USD")  # the order's


async def test_a_return_id_starts_one_return_for_ever_even_after_its_history_is_deleted_on_any_order(
    doors: Doors, returns: ReturnsClient
) -> None:
    request = await doors.new_request()
    (await doors.start(request)).raise_for_status()
    await doors.wait_for(request.return_id, Stage.label_issued)
    cancelled = await doors.act(
        "storefront", request.return_id, "cancel", {"reason": "changed my mind", "actor": "ada"}
    )
    assert cancelled.status_code == 200
    await doors.wait_for(request.return_id, Stage.cancelled)
    deleted = await asyncio.to_thread(
        subprocess.run,
        [os.environ["TEMPORAL_CLI_PATH"], "workflow", "delete", "--address", doors.stack.settings.temporal_address]
        + ["--workflow-id", workflow_id_for(request.return_id)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert deleted.returncode == 0, deleted.stderr
    await eventually(lambda: exists(returns, request.return_id), lambda found: not found, timeout=30)
    again = await doors.start(request)
    assert again.status_code == 409
    assert (again.json()["error"], "was used before" in again.json()["message"]) == ("conflict", True)
    # nor under another order, which never reserved it: the event store remembers the id
    elsewhere = (await doors.new_request()).model_copy(update={"return_id": request.return_id})
    assert elsewhere.order_id != request.order_id
    again_elsewhere = await doors.start(elsewhere)
    assert again_elsewhere.status_code == 409, again_elsewhere.text
    assert "was used before" in again_elsewhere.json()["message"]
    assert not await exists(returns, request.return_id)


# --- Eligibility tells about an order only to who names it rightly ---------------------------


async def test_eligibility_needs_the_order_s_email_or_postal_code(doors: Doors) -> None:
    request = await doors.new_request()
    address = request.customer_address

    def asking(**changes: object) -> dict:
        named = request.model_copy(update={"customer_address": address.model_copy(update=changes)})
        return named.model_dump(mode="json")

    async def eligibility(body: dict) -> httpx.Response:
        return await doors.http.post("/v1/eligibility", json=body, headers=doors.headers("storefront"))

    by_zip = await eligibility(asking())  # the demo's request carries the shopper's zip
    by_email = await eligibility(asking(zip="10001", email="ADA@example.com"))
    guessed = await eligibility(asking(zip="10001", email="mallory@example.com"))
    nowhere = await eligibility(asking(zip="10001") | {"order_id": "ORD-nowhere"})

    assert (by_zip.status_code, by_email.status_code) == (200, 200)
    assert guessed.status_code == nowhere.status_code == 422
    # The same answer as for an order that does not exist: nothing about its lines, prices or quantities.
    assert guessed.json()["fields"] == [{"field": "order_id", "message": f"unknown order {request.order_id}"}]
    assert nowhere.json()["fields"] == [{"field": "order_id", "message": "unknown order ORD-nowhere"}]
