"""The warehouse's door over HTTP: receipts, inspections, disposition work confirmed."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowExecutionStatus

from devstack.demo import carrier_reports, run_demo
from starter.client import ReturnsClient
from tests.system.api.doors import Doors, eventually
from workflows.contract import workflow_id_for
from workflows.models import ReturnStatus
from workflows.vocabulary import ResolutionKind, Stage, TrackingStatus

pytestmark = pytest.mark.devserver


@pytest.fixture(scope="module")
async def completed(doors: Doors) -> ReturnStatus:
    """The demo return, driven to its refund through the doors (HTTP and signed webhooks)."""
    return await run_demo(doors.stack.settings, doors.stack.api_url, return_id="WH-1")


async def delivered(doors: Doors, **changes: object) -> ReturnStatus:
    status = await doors.started(Stage.label_issued, **changes)
    assert status.label is not None
    await carrier_reports(doors.http, doors.stack.settings, status.label.tracking_number, TrackingStatus.delivered)
    return await doors.wait_for(status.return_id, Stage.delivered)


async def test_the_demo_return_completes_through_the_doors(completed: ReturnStatus) -> None:
    assert completed.stage is Stage.completed
    actors = {entry.actor for entry in completed.timeline}
    assert {"carrier", "warehouse:wms-1 for dock-7"} <= actors
    assert completed.inspected_by == "warehouse:wms-1 for dock-7"


async def test_confirming_disposition_work_is_recorded_once_by_the_shop_platform(
    doors: Doors, completed: ReturnStatus
) -> None:
    recycled = next(line for line in completed.lines if line.line_id == "L2")
    path = f"/v1/returns/{completed.return_id}/disposition-confirmations"

    first = await doors.http.post(path, json={"line_id": "L2"}, headers=doors.headers("warehouse", "dock-7"))
    again = await doors.http.post(path, json={"line_id": "L2"}, headers=doors.headers("warehouse", "dock-7"))
    other = await doors.http.post(path, json={"line_id": "L2"}, headers=doors.headers("warehouse", "dock-9"))

    assert [first.status_code, again.status_code, other.status_code] == [200, 200, 200]
    assert first.json() == {"return_id": completed.return_id, "action": "confirm_disposition", "stage": "completed"}
    status = await doors.status(completed.return_id)
    line = next(line for line in status.lines if line.line_id == "L2")
    assert line.disposition_confirmed_by == "warehouse:wms-1 for dock-7"  # the first confirmation stands
    assert [entry.detail for entry in status.timeline].count("L2: recycle work confirmed done") == 1
    work_orders = (await doors.http.get(f"{doors.stack.sandbox_url('shop')}/_sandbox/work_orders")).json()
    work_order = next(order for order in work_orders if order["id"] == recycled.disposition_work_id)
    assert (work_order["status"], work_order["completed_by"]) == ("completed", "warehouse:wms-1 for dock-7")


async def test_a_restocked_line_has_no_work_to_confirm(doors: Doors, completed: ReturnStatus) -> None:
    response = await doors.http.post(
        f"/v1/returns/{completed.return_id}/disposition-confirmations",
        json={"line_id": "L1"},
        headers=doors.headers("warehouse"),
    )
    assert response.status_code == 409
    assert response.json()["stage"] == "completed"


async def test_confirming_an_unknown_line_is_422(doors: Doors, completed: ReturnStatus) -> None:
    response = await doors.http.post(
        f"/v1/returns/{completed.return_id}/disposition-confirmations",
        json={"line_id": "L7"},
        headers=doors.headers("warehouse"),
    )
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "line_id"


async def test_receipt_and_inspection_move_a_delivered_return_on(doors: Doors) -> None:
    status = await delivered(doors)
    headers = doors.headers("warehouse", "dock-3")
    receipt = {"receipt_id": "P-1", "lines": [{"line_id": "L1", "quantity": 2}, {"line_id": "L2", "quantity": 1}]}
    inspection = {
        "lines": [
            {"line_id": "L1", "grade": "A", "notes": "sealed", "photo_urls": ["https://img.example/1.jpg"]},
            {"line_id": "L2", "grade": "C", "notes": "chipped"},
        ]
    }

    received = await doors.http.post(f"/v1/returns/{status.return_id}/receipts", json=receipt, headers=headers)
    inspected = await doors.http.post(f"/v1/returns/{status.return_id}/inspection", json=inspection, headers=headers)

    assert (received.status_code, inspected.status_code) == (202, 202)
    assert received.json() == {"return_id": status.return_id, "event": "parcel_received"}
    final = await doors.wait_for(status.return_id, Stage.completed)
    assert final.inspected_by == "warehouse:wms-1 for dock-3"
    assert {line.line_id: line.received_quantity for line in final.lines} == {"L1": 2, "L2": 1}


async def test_a_receipt_for_an_unknown_line_is_422_and_not_signalled(doors: Doors) -> None:
    status = await delivered(doors)
    response = await doors.http.post(
        f"/v1/returns/{status.return_id}/receipts",
        json={"receipt_id": "P-1", "lines": [{"line_id": "L9", "quantity": 1}]},
        headers=doors.headers("warehouse"),
    )
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "lines"
    assert len((await doors.status(status.return_id)).timeline) == len(status.timeline)


async def test_inspection_before_any_parcel_can_exist_is_409_with_the_stage(doors: Doors) -> None:
    status = await doors.started(Stage.needs_review, order_changes={"customer_return_count": 11})
    response = await doors.http.post(
        f"/v1/returns/{status.return_id}/inspection",
        json={"lines": [{"line_id": "L1", "grade": "A"}, {"line_id": "L2", "grade": "A"}]},
        headers=doors.headers("warehouse"),
    )
    assert response.status_code == 409
    assert (response.json()["error"], response.json()["stage"]) == ("invalid_state", "needs_review")
    assert "no parcel is on its way" in response.json()["message"]


async def test_an_inspection_before_the_carriers_delivered_scan_proves_the_parcel_arrived(doors: Doors) -> None:
    status = await doors.started(Stage.label_issued)
    response = await doors.http.post(
        f"/v1/returns/{status.return_id}/inspection",
        json={"lines": [{"line_id": "L1", "grade": "A"}, {"line_id": "L2", "grade": "A"}]},
        headers=doors.headers("warehouse"),
    )
    assert response.status_code == 202
    assert (await doors.wait_for(status.return_id, Stage.completed)).stage is Stage.completed


async def test_an_inspection_must_grade_every_open_line(doors: Doors) -> None:
    status = await delivered(doors)
    response = await doors.http.post(
        f"/v1/returns/{status.return_id}/inspection",
        json={"inspector": "dock-1", "lines": [{"line_id": "L1", "grade": "A"}]},
        headers={"X-API-Key": doors.headers("warehouse")["X-API-Key"]},
    )
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "lines"


async def test_a_closed_return_takes_no_more_receipts(doors: Doors, completed: ReturnStatus) -> None:
    response = await doors.http.post(
        f"/v1/returns/{completed.return_id}/receipts",
        json={"receipt_id": "late", "lines": [{"line_id": "L1", "quantity": 1}]},
        headers=doors.headers("warehouse"),
    )
    assert response.status_code == 409
    assert response.json()["stage"] == "completed"


async def test_a_confirmation_repeated_after_the_return_closed_is_answered_as_the_first(
    doors: Doors, returns: ReturnsClient
) -> None:
    """The last confirmation closes a store-credit return (no refund to watch): a repeat of it, say
    because its answer was lost, must still be answered 200, not 409 "the return is closed"."""
    status = await delivered(doors, resolution=ResolutionKind.store_credit)
    warehouse = doors.headers("warehouse", "dock-3")
    receipt = {"receipt_id": "P-1", "lines": [{"line_id": "L1", "quantity": 2}, {"line_id": "L2", "quantity": 1}]}
    inspection = {"lines": [{"line_id": "L1", "grade": "A"}, {"line_id": "L2", "grade": "D"}]}
    await doors.http.post(f"/v1/returns/{status.return_id}/receipts", json=receipt, headers=warehouse)
    await doors.http.post(f"/v1/returns/{status.return_id}/inspection", json=inspection, headers=warehouse)
    await doors.wait_for(status.return_id, Stage.completed)
    path = f"/v1/returns/{status.return_id}/disposition-confirmations"

    first = await doors.http.post(path, json={"line_id": "L2"}, headers=warehouse)
    handle = returns.temporal.get_workflow_handle(workflow_id_for(status.return_id))
    await eventually(handle.describe, lambda described: described.status is not WorkflowExecutionStatus.RUNNING)
    repeated = await doors.http.post(path, json={"line_id": "L2"}, headers=warehouse)

    assert (first.status_code, repeated.status_code) == (200, 200), repeated.text
    assert repeated.json() == {"return_id": status.return_id, "action": "confirm_disposition", "stage": "completed"}
