"""The role matrix: every endpoint behind an API key, with every role's key, a wrong key and none.

The expected roles are written out here, not read from the app, so a route that admits
the wrong role fails this test.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from api.auth import key_hash
from devstack.stack import LOCAL_SECRETS
from starter.client import ReturnsClient
from tests.system.api.doors import ROLES, Doors, eventually, exists
from workflows.vocabulary import Stage

pytestmark = pytest.mark.devserver

STOREFRONT, WAREHOUSE, OPERATOR = ROLES
ACTION = {"reason": "role matrix"}
PICKUP_WINDOW = {"start": "2030-01-07T09:00:00+00:00", "end": "2030-01-07T12:00:00+00:00"}
REQUEST_FIELDS = {"order_id": "ORD-none", "customer_id": "CUS-1", "currency": "USD", "payment_intent_id": "pi_x"}

# (method, path, body, the roles admitted); {id} is a return nobody started.
MATRIX: list[tuple[str, str, Any, set[str]]] = [
    ("POST", "/v1/eligibility", "request", {STOREFRONT, OPERATOR}),
    ("POST", "/v1/returns", "request", {STOREFRONT}),
    ("GET", "/v1/returns", None, {STOREFRONT, WAREHOUSE, OPERATOR}),
    ("GET", "/v1/returns/{id}", None, {STOREFRONT, WAREHOUSE, OPERATOR}),
    ("GET", "/v1/returns/{id}/timeline", None, {STOREFRONT, WAREHOUSE, OPERATOR}),
    ("POST", "/v1/returns/{id}/cancel", ACTION, {STOREFRONT, OPERATOR}),
    ("PUT", "/v1/returns/{id}/pickup", {**ACTION, "window": PICKUP_WINDOW}, {STOREFRONT, OPERATOR}),
    ("DELETE", "/v1/returns/{id}/pickup", ACTION, {STOREFRONT, OPERATOR}),
    (
        "POST",
        "/v1/returns/{id}/receipts",
        {"receipt_id": "P", "lines": [{"line_id": "L1", "quantity": 1}]},
        {WAREHOUSE},
    ),
    ("POST", "/v1/returns/{id}/inspection", {"lines": [{"line_id": "L1", "grade": "A"}]}, {WAREHOUSE}),
    ("POST", "/v1/returns/{id}/disposition-confirmations", {"line_id": "L1"}, {WAREHOUSE}),
    ("POST", "/v1/returns/{id}/approve", ACTION, {OPERATOR}),
    ("POST", "/v1/returns/{id}/reject", ACTION, {OPERATOR}),
    ("POST", "/v1/returns/{id}/retry", ACTION, {OPERATOR}),
    ("POST", "/v1/returns/{id}/other-way", {**ACTION, "way": "close_unresolved"}, {OPERATOR}),
    (
        "POST",
        "/v1/returns/{id}/disposition-overrides",
        {**ACTION, "line_id": "L1", "disposition": "recycle"},
        {OPERATOR},
    ),
    ("POST", "/v1/returns/{id}/deadline-extensions", {**ACTION, "deadline": "ship_by", "days": 1}, {OPERATOR}),
    # The store's reports and the event subscriptions ({id} stands for the report's name or the
    # subscription's id: unknown ones are a 404 past the door).
    ("GET", "/v1/reports/{id}", None, {OPERATOR}),
    ("GET", "/v1/event-subscriptions", None, {OPERATOR}),
    ("POST", "/v1/event-subscriptions", {"url": "http://127.0.0.1:9/never-delivered"}, {OPERATOR}),
    ("GET", "/v1/event-subscriptions/{id}", None, {OPERATOR}),
    ("PATCH", "/v1/event-subscriptions/{id}", {"state": "disabled", "reason": "role matrix"}, {OPERATOR}),
    ("POST", "/v1/event-subscriptions/{id}/secret-rotations", None, {OPERATOR}),
    ("GET", "/v1/event-subscriptions/{id}/deliveries", None, {OPERATOR}),
    ("POST", "/v1/event-subscriptions/{id}/redeliveries", {"return_id": "AUTH-none"}, {OPERATOR}),
]
# Path parameters as the OpenAPI document names them, all written {id} above.
PATH_PARAMETERS = ("{return_id}", "{subscription_id}", "{name}")
CALLERS = [*ROLES, "wrong key", "no key"]


def test_the_matrix_covers_every_operation_behind_a_key() -> None:
    document = json.loads((Path(__file__).parents[3] / "docs" / "openapi.json").read_text())

    def as_in_matrix(path: str) -> str:
        for parameter in PATH_PARAMETERS:
            path = path.replace(parameter, "{id}")
        return path

    secured = {
        (method.upper(), as_in_matrix(path))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    }
    assert secured == {(method, path) for method, path, _, _ in MATRIX}


def _headers(doors: Doors, caller: str) -> dict[str, str]:
    if caller == "no key":
        return {}
    if caller == "wrong key":
        return {"X-API-Key": "not-a-key-" + doors.headers(OPERATOR)["X-API-Key"]}
    return doors.headers(caller)


def _unknown_id(path: str, return_id: str) -> str:
    """What {id} stands for in `path`: an unknown return or subscription (past the door, a 404), or
    a report (its names are an enum; past the door, a 200)."""
    if path.startswith("/v1/event-subscriptions/"):
        return "sub_" + return_id.removeprefix("AUTH-").ljust(24, "0")
    if path.startswith("/v1/reports/"):
        return "returns_by_reason"
    return return_id


async def _body(doors: Doors, body: Any, return_id: str) -> Any:
    if body != "request":
        return body
    request = await doors.new_request()
    return request.model_copy(update={"return_id": return_id}).model_dump(mode="json")


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path", "body", "admitted"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
async def test_role_matrix(
    doors: Doors, returns: ReturnsClient, caller: str, method: str, path: str, body: Any, admitted: set[str]
) -> None:
    return_id = f"AUTH-{uuid.uuid4().hex[:10]}"
    response = await doors.http.request(
        method,
        path.format(id=_unknown_id(path, return_id)),
        json=await _body(doors, body, return_id),
        headers=_headers(doors, caller),
    )

    if caller in admitted:
        # Past the door: an unknown return is a 404; starting and listing succeed.
        assert response.status_code in (200, 201, 404), response.text
    else:
        assert response.status_code == (403 if caller in ROLES else 401), response.text
        assert response.json()["error"] == ("forbidden" if caller in ROLES else "unauthorized")
        assert not await exists(returns, return_id)


async def test_authentication_is_checked_before_the_body(doors: Doors) -> None:
    response = await doors.http.post("/v1/returns", json={"not": "a return"}, headers=doors.headers(WAREHOUSE))
    assert response.status_code == 403


async def test_webhooks_and_health_need_no_api_key(doors: Doors) -> None:
    assert (await doors.http.get("/v1/health")).json() == {"status": "ok"}
    assert (await doors.http.post("/v1/webhooks/stripe", content=b"{}")).status_code == 400  # no signature


async def test_no_secret_reaches_the_logs(doors: Doors) -> None:
    """Keys, a wrong key holding a real one, and Shippo's URL token pass through; no log line shows them."""
    settings = doors.stack.settings
    token = settings.shippo_webhook_token.get_secret_value()
    await doors.http.get("/v1/returns", headers=doors.headers(OPERATOR))
    await doors.http.get("/v1/returns", headers={"X-API-Key": "x" + doors.headers(STOREFRONT)["X-API-Key"]})
    await doors.http.post("/v1/webhooks/shippo", params={"token": token}, content=b"{}")

    async def logs() -> str:
        return "".join(path.read_text() for path in doors.stack.log_dir.glob("*.log"))

    # Logged once the answer is sent, so a moment after the client has it.
    text = await eventually(logs, lambda text: "path=/v1/webhooks/shippo" in text)
    assert "path=/v1/webhooks/shippo" in text
    assert not [name for name, value in LOCAL_SECRETS.items() if value in text]


# --- Who acted: from the key, never from what the request says ---------------------------------


async def test_a_person_s_key_acts_as_its_holder_and_can_name_no_one_else(doors: Doors) -> None:
    status = await doors.started(Stage.needs_review, order_changes={"customer_return_count": 11})
    path = f"/v1/returns/{status.return_id}/approve"

    as_header = await doors.http.post(path, json={"reason": "r"}, headers=doors.key_of("kim", actor="mallory"))
    in_body = await doors.http.post(path, json={"reason": "r", "actor": "mallory"}, headers=doors.key_of("kim"))
    assert (as_header.status_code, in_body.status_code) == (422, 422)
    assert {problem["field"] for problem in as_header.json()["fields"]} == {"actor"}
    assert (await doors.status(status.return_id)).timeline == status.timeline

    approved = await doors.http.post(path, json={"reason": "known customer"}, headers=doors.key_of("kim"))
    assert approved.status_code == 200, approved.text
    final = await doors.wait_for(status.return_id, Stage.label_issued)
    assert [entry.actor for entry in final.timeline if "known customer" in entry.detail] == ["operator:kim"]
    assert not [entry for entry in final.timeline if "mallory" in entry.actor]


async def test_a_system_s_key_records_whom_it_acts_for_beside_itself(doors: Doors) -> None:
    status = await doors.started(Stage.label_issued)
    response = await doors.http.post(
        f"/v1/returns/{status.return_id}/inspection",
        json={"lines": [{"line_id": "L1", "grade": "A"}, {"line_id": "L2", "grade": "A"}]},
        headers=doors.key_of("wms-1", actor="dock-7"),
    )
    assert response.status_code == 202, response.text
    final = await doors.wait_for(status.return_id, Stage.completed)
    assert final.inspected_by == "warehouse:wms-1 for dock-7"


async def test_a_warehouse_person_s_key_is_its_holder_s(doors: Doors) -> None:
    status = await doors.started(Stage.label_issued)
    inspection = {"lines": [{"line_id": "L1", "grade": "A"}, {"line_id": "L2", "grade": "A"}]}
    path = f"/v1/returns/{status.return_id}/inspection"

    posing = await doors.http.post(path, json=inspection, headers=doors.key_of("dock-3", actor="dock-9"))
    own = await doors.http.post(path, json=inspection, headers=doors.key_of("dock-3"))

    assert (posing.status_code, own.status_code) == (422, 202)
    assert (await doors.wait_for(status.return_id, Stage.completed)).inspected_by == "warehouse:dock-3"


async def test_the_request_log_names_the_role_and_key_id_never_the_key(doors: Doors) -> None:
    key = doors.key_of("lee")["X-API-Key"]
    marker = f"AUTH-LOG-{uuid.uuid4().hex[:8]}"
    await doors.http.get(f"/v1/returns/{marker}", headers={"X-API-Key": key})

    async def logs() -> str:
        return (doors.stack.log_dir / "api.log").read_text()

    text = await eventually(logs, lambda text: marker in text)
    line = next(line for line in text.splitlines() if f"path=/v1/returns/{marker}" in line)
    assert "role=operator" in line and f"key_id={key_hash(key)[:12]}" in line
    assert key not in text
