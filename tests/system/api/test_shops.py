"""One deployment, several shops: a storefront key that names its shop reaches only that shop's returns.

The local stack has two such keys (devstack/stack.py: `acme-web`, `globex-web`); a shop's return
ids and order ids begin `<shop>:` (starter/shops.py). Whatever is another shop's is answered
exactly as what does not exist.
"""

from __future__ import annotations

import uuid

import pytest

from starter.client import ReturnsClient
from tests.system.api.doors import Doors, eventually, exists
from workflows.models import ReturnRequest
from workflows.vocabulary import Stage

pytestmark = pytest.mark.devserver

ACME, GLOBEX = "acme-web", "globex-web"


async def acme_request(doors: Doors) -> ReturnRequest:
    suffix = uuid.uuid4().hex[:10]
    request = await doors.new_request(order_id=f"acme:ORD-{suffix}")
    return request.model_copy(update={"return_id": f"acme:R-{suffix}"})


async def started_by_acme(doors: Doors) -> ReturnRequest:
    request = await acme_request(doors)
    response = await doors.http.post("/v1/returns", json=request.model_dump(mode="json"), headers=doors.key_of(ACME))
    assert response.status_code == 201, response.text
    await doors.wait_for(request.return_id, Stage.label_issued)
    return request


async def listed(doors: Doors, holder: str, return_id: str) -> bool:
    response = await doors.http.get("/v1/returns", params={"page_size": 200}, headers=doors.key_of(holder))
    assert response.status_code == 200, response.text
    return return_id in {summary["return_id"] for summary in response.json()["returns"]}


async def test_another_shop_s_return_is_unknown_to_read_and_to_cancel(doors: Doors) -> None:
    request = await started_by_acme(doors)
    path = f"/v1/returns/{request.return_id}"
    unknown = f"/v1/returns/{request.return_id.replace('acme:', 'acme:X')}"

    answers = {
        "status": await doors.http.get(path, headers=doors.key_of(GLOBEX)),
        "timeline": await doors.http.get(f"{path}/timeline", headers=doors.key_of(GLOBEX)),
        "cancel": await doors.http.post(f"{path}/cancel", json={"reason": "mine now"}, headers=doors.key_of(GLOBEX)),
    }
    nothing = await doors.http.get(unknown, headers=doors.key_of(ACME))

    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(answers, 404)
    assert answers["status"].json() | {"return_id": "", "message": ""} == nothing.json() | {
        "return_id": "",
        "message": "",
    }
    assert (await doors.http.get(path, headers=doors.key_of(ACME))).status_code == 200
    assert (await doors.status(request.return_id)).stage is Stage.label_issued  # the cancel never reached it


async def test_listing_shows_a_shop_its_own_returns_only(doors: Doors) -> None:
    request = await started_by_acme(doors)

    assert await eventually(lambda: listed(doors, ACME, request.return_id), bool)
    assert await eventually(lambda: listed(doors, "kim", request.return_id), bool)  # an operator sees every shop
    assert not await listed(doors, GLOBEX, request.return_id)
    filtered = await doors.http.get("/v1/returns", params={"order_id": request.order_id}, headers=doors.key_of(GLOBEX))
    assert filtered.json()["returns"] == []


async def test_a_shop_starts_returns_only_under_its_own_ids(doors: Doors, returns: ReturnsClient) -> None:
    request = await acme_request(doors)
    outside = {
        "return_id": request.model_copy(update={"return_id": f"globex:R-{uuid.uuid4().hex[:8]}"}),
        "order_id": request.model_copy(update={"order_id": "globex:ORD-1"}),
    }
    for field, attempt in outside.items():
        response = await doors.http.post(
            "/v1/returns", json=attempt.model_dump(mode="json"), headers=doors.key_of(ACME)
        )
        assert response.status_code == 422, response.text
        assert [problem["field"] for problem in response.json()["fields"]] == [field]
        assert not await exists(returns, attempt.return_id)


async def test_eligibility_of_another_shop_s_order_is_an_unknown_order(doors: Doors) -> None:
    request = await acme_request(doors)
    body = request.model_dump(mode="json")

    own = await doors.http.post("/v1/eligibility", json=body, headers=doors.key_of(ACME))
    other = await doors.http.post("/v1/eligibility", json=body, headers=doors.key_of(GLOBEX))

    assert own.status_code == 200, own.text
    assert other.status_code == 422
    assert other.json()["fields"] == [{"field": "order_id", "message": f"unknown order {request.order_id}"}]
