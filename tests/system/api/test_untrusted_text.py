"""Free text from callers can't forge a timeline line: control characters, line breaks and
direction overrides are refused at the door (422, naming the field), and nothing reaches the return."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.demo import carrier_reports
from starter.client import ReturnsClient
from tests.system.api.doors import Doors, exists
from workflows.models import ReturnStatus
from workflows.vocabulary import Stage, TrackingStatus

pytestmark = pytest.mark.devserver

# What an attacker would append to a reason to fake an operator's approval in `returnsctl show`.
FORGED_LINE = "ok\n  2026-01-01 00:00:00  completed     operator:kim         refund approved in full"

# (role, action, body, the field the 422 names)
ATTEMPTS: list[tuple[str, str, dict[str, Any], str]] = [
    ("storefront", "cancel", {"reason": FORGED_LINE}, "reason"),
    ("operator", "approve", {"reason": "fine\r\nby me"}, "reason"),
    ("operator", "deadline-extensions", {"deadline": "ship_by", "days": 1, "reason": "tab\there"}, "reason"),
    (
        "operator",
        "disposition-overrides",
        {"line_id": "L2", "disposition": "recycle", "reason": "reads \u202ebackwards"},
        "reason",
    ),
    ("warehouse", "receipts", {"receipt_id": "P-1\x1b[2J", "lines": [{"line_id": "L1", "quantity": 2}]}, "receipt_id"),
    (
        "warehouse",
        "inspection",
        {"lines": [{"line_id": "L1", "grade": "A", "notes": FORGED_LINE}, {"line_id": "L2", "grade": "A"}]},
        "lines.0.notes",
    ),
    (
        "warehouse",
        "inspection",
        {
            "lines": [
                {"line_id": "L1", "grade": "A", "photo_urls": ["javascript:alert(1)"]},
                {"line_id": "L2", "grade": "A"},
            ]
        },
        "lines.0.photo_urls.0",
    ),
    ("storefront", "cancel", {"reason": "x" * 501}, "reason"),
]


async def delivered(doors: Doors) -> ReturnStatus:
    status = await doors.started(Stage.label_issued)
    assert status.label is not None
    await carrier_reports(doors.http, doors.stack.settings, status.label.tracking_number, TrackingStatus.delivered)
    return await doors.wait_for(status.return_id, Stage.delivered)


@pytest.mark.parametrize(("role", "action", "body", "field"), ATTEMPTS, ids=[f"{a[1]}-{a[3]}" for a in ATTEMPTS])
async def test_text_that_could_forge_a_line_is_refused(
    doors: Doors, role: str, action: str, body: dict[str, Any], field: str
) -> None:
    status = await (delivered(doors) if role == "warehouse" else doors.started(Stage.label_issued))
    before = await doors.status(status.return_id)

    response = await doors.act(role, status.return_id, action, body)

    assert response.status_code == 422, response.text
    assert field in [problem["field"] for problem in response.json()["fields"]]
    assert (await doors.status(status.return_id)).timeline == before.timeline


async def test_a_system_s_key_can_t_name_an_actor_with_a_line_break(doors: Doors) -> None:
    status = await doors.started(Stage.label_issued)
    body = {"reason": "changed my mind", "actor": "ada\noperator:kim"}
    response = await doors.act("storefront", status.return_id, "cancel", body)
    assert response.status_code == 422
    assert (await doors.status(status.return_id)).stage is Stage.label_issued


async def test_a_request_with_a_forged_address_line_starts_nothing(doors: Doors, returns: ReturnsClient) -> None:
    request = await doors.new_request()
    address = request.customer_address.model_copy(update={"street2": "Apt 1\r\nX-Injected: yes"})
    body = request.model_copy(update={"customer_address": address}).model_dump(mode="json")

    response = await doors.http.post("/v1/returns", json=body, headers=doors.headers("storefront"))

    assert response.status_code == 422, response.text
    assert [problem["field"] for problem in response.json()["fields"]] == ["customer_address.street2"]
    assert not await exists(returns, request.return_id)
