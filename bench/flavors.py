"""How the benchmark drives each kind of return: prepare, start, tell it events, read it.

A journey is told in neutral events (`Scan`, `Receipt`, `Inspection`); each flavor turns
them into its own messages. `ReturnFlavor` drives the real ReturnWorkflow, through the
client library (ReturnsClient, what a shop's backend uses) or with raw signals;
`HttpFlavor` through the HTTP API; `BaselineFlavor` drives bench.baseline.BaselineReturn
with plain dicts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import perf_counter
from typing import Any, Protocol

import httpx
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle

from bench import baseline
from bench.history import is_activity_scheduled, is_completion, upserted_keyword
from devstack.checkout import DEMO_GRADES, DEMO_LINES, charge_shopper, demo_order, demo_request, seed_order
from devstack.demo import post_shippo_webhook, role_headers
from starter.client import ReturnsClient
from workflows import rules
from workflows.contract import WORKFLOW_ID_PREFIX, workflow_id_for
from workflows.models import (
    CarrierScan,
    InspectionReport,
    LineInspection,
    ParcelReceipt,
    ReceivedLine,
    ReturnRequest,
    ReturnStatus,
    StartReturn,
)
from workflows.return_workflow import ReturnWorkflow
from workflows.search_attributes import RETURN_STAGE
from workflows.vocabulary import Grade, Stage, TrackingStatus

# --- Events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    status: TrackingStatus


@dataclass(frozen=True)
class Receipt:
    quantities: Mapping[str, int]


@dataclass(frozen=True)
class Inspection:
    grades: Mapping[str, Grade] = field(default_factory=lambda: dict(DEMO_GRADES))


Event = Scan | Receipt | Inspection

ALL_UNITS = {line.line_id: line.quantity for line in DEMO_LINES}
NO_PROGRESS_SCAN = Scan(TrackingStatus.pre_transit)  # the carrier saw the label: the return stays where it is
SCANS = (NO_PROGRESS_SCAN, Scan(TrackingStatus.transit), Scan(TrackingStatus.delivered))
HAPPY_PATH: tuple[Event, ...] = (*SCANS, Receipt(ALL_UNITS), Inspection())
PARTIAL_RECEIPT: tuple[Event, ...] = (*SCANS, Receipt({**ALL_UNITS, "L1": ALL_UNITS["L1"] - 1}), Inspection())


@dataclass(frozen=True)
class View:
    """What a status query shows, reduced to what the events change."""

    stage: Stage
    received: bool


def _stage_after(scan: Scan) -> Stage | None:
    """The stage a scan moves a return with its label out to; None if it moves nothing."""
    stage = rules.stage_after_scan(Stage.label_issued, scan.status)
    return None if stage is Stage.label_issued else stage


def is_visible(event: Event) -> bool:
    """Whether the event changes what the status query shows."""
    return not isinstance(event, Scan) or _stage_after(event) is not None


def shows(view: View, event: Event) -> bool:
    """Whether `view` shows the effect of a visible `event`."""
    if isinstance(event, Receipt):
        return view.received
    if isinstance(event, Inspection):
        return rules.is_at_or_past(view.stage, Stage.inspecting)
    stage = _stage_after(event)
    return stage is not None and rules.is_at_or_past(view.stage, stage)


# --- Flavors -------------------------------------------------------------------------------


class Flavor(Protocol):
    name: str

    async def prepare(self, return_id: str) -> Any:
        """Everything a return needs before it starts (the shop's order, the payment)."""

    async def start(self, prepared: Any) -> WorkflowHandle: ...

    async def tell(self, handle: WorkflowHandle, event: Event, n: int) -> float:
        """Delivers the journey's `n`th event (n makes event ids unique); answers the moment
        (perf_counter) it left its sender, after whatever the sender does first on its own."""

    async def view(self, handle: WorkflowHandle) -> View: ...

    def label_ready(self, event: HistoryEvent) -> bool:
        """True for the history event after which the return takes carrier scans."""

    def done(self, event: HistoryEvent) -> bool:
        """True for the history event that says the return is resolved."""


def _stage_set(stage: Stage) -> Any:
    def matches(event: HistoryEvent) -> bool:
        return upserted_keyword(event, RETURN_STAGE.name) == stage.value

    return matches


Message = CarrierScan | ParcelReceipt | InspectionReport


def message(event: Event, return_id: str, n: int) -> Message:
    """The contract's message for an event."""
    if isinstance(event, Scan):
        return CarrierScan(event_id=f"{return_id}-{n}", status=event.status, occurred_at=datetime.now(UTC))
    if isinstance(event, Receipt):
        lines = [ReceivedLine(line_id=k, quantity=v) for k, v in event.quantities.items()]
        return ParcelReceipt(receipt_id=f"{return_id}-{n}", received_by="dock-1", lines=lines)
    lines = [LineInspection(line_id=k, grade=v) for k, v in event.grades.items()]
    return InspectionReport(inspector="dock-1", lines=lines)


# Per message: how to send it raw (a signal, or an update the workflow validates), and the
# ReturnsClient method that sends it.
_MESSAGES: dict[type, tuple[Callable[[WorkflowHandle, Any], Awaitable[Any]], str]] = {
    CarrierScan: (lambda handle, scan: handle.signal(ReturnWorkflow.carrier_scan, scan), "record_carrier_scan"),
    ParcelReceipt: (
        lambda handle, receipt: handle.execute_update(ReturnWorkflow.record_receipt, receipt),
        "record_receipt",
    ),
    InspectionReport: (
        lambda handle, report: handle.execute_update(ReturnWorkflow.record_inspection, report),
        "record_inspection",
    ),
}


def return_id_of(handle: WorkflowHandle) -> str:
    return handle.id.removeprefix(WORKFLOW_ID_PREFIX)


@dataclass
class ReturnFlavor:
    """The real ReturnWorkflow. `door=True` goes through ReturnsClient (its start checks the
    request and sets the search attributes); `door=False` starts the workflow and sends its
    signals and updates directly."""

    name: str
    client: ReturnsClient
    door: bool = True
    request_changes: Mapping[str, Any] = field(default_factory=dict)
    label_ready = staticmethod(_stage_set(Stage.label_issued))
    done = staticmethod(_stage_set(Stage.completed))

    async def prepare(self, return_id: str) -> ReturnRequest:
        settings = self.client.settings
        # A customer per return: the shop counts a customer's returns, and many send one to review.
        changes = {"customer_id": f"CUS-{return_id}", **self.request_changes}
        request = demo_request(return_id, await charge_shopper(settings), **changes)
        await seed_order(
            settings, demo_order(request.order_id, request.customer_id, paid_with=request.payment_intent_id)
        )
        return request

    async def start(self, prepared: ReturnRequest) -> WorkflowHandle:
        workflow_id = workflow_id_for(prepared.return_id)
        if self.door:
            await self.client.start(prepared)
        else:
            await self.client.temporal.start_workflow(
                ReturnWorkflow.run,
                StartReturn(request=prepared, policy=self.client.policy),
                id=workflow_id,
                task_queue=self.client.settings.task_queue,
            )
        return self.client.temporal.get_workflow_handle(workflow_id)

    async def tell(self, handle: WorkflowHandle, event: Event, n: int) -> float:
        return_id = return_id_of(handle)
        payload = message(event, return_id, n)
        send_raw, door_method = _MESSAGES[type(payload)]
        sent = perf_counter()
        if self.door:
            await getattr(self.client, door_method)(return_id, payload)
        else:
            await send_raw(handle, payload)
        return sent

    async def view(self, handle: WorkflowHandle) -> View:
        return _view(await handle.query(ReturnWorkflow.status))


@dataclass
class HttpFlavor:
    """The real ReturnWorkflow through the HTTP API, as the production worker and API of
    LocalStack serve it: the storefront and the warehouse with their keys, the carrier's
    scans as signed Shippo webhooks (the scan is registered with the Shippo sandbox first,
    as the carrier does, before the clock starts)."""

    name: str
    returns: ReturnFlavor  # prepares the same returns; its client follows their histories
    api: httpx.AsyncClient  # base_url: the API
    label_ready = staticmethod(_stage_set(Stage.label_issued))
    done = staticmethod(_stage_set(Stage.completed))

    async def prepare(self, return_id: str) -> ReturnRequest:
        return await self.returns.prepare(return_id)

    async def start(self, prepared: ReturnRequest) -> WorkflowHandle:
        body = prepared.model_dump(mode="json")
        (await self.api.post("/v1/returns", json=body, headers=self._headers("storefront"))).raise_for_status()
        return self.returns.client.temporal.get_workflow_handle(workflow_id_for(prepared.return_id))

    async def tell(self, handle: WorkflowHandle, event: Event, n: int) -> float:
        return_id = return_id_of(handle)
        if isinstance(event, Scan):
            track = await self._carrier_scans(return_id, event.status)
            sent = perf_counter()
            webhook = {"event": "track_updated", "test": True, "data": track}
            (await post_shippo_webhook(self.api, self.returns.client.settings, webhook)).raise_for_status()
            return sent
        path = "receipts" if isinstance(event, Receipt) else "inspection"
        body = message(event, return_id, n).model_dump(mode="json")
        sent = perf_counter()
        response = await self.api.post(f"/v1/returns/{return_id}/{path}", json=body, headers=self._headers("warehouse"))
        response.raise_for_status()
        return sent

    async def view(self, handle: WorkflowHandle) -> View:
        return _view(await self._status(return_id_of(handle)))

    async def _status(self, return_id: str) -> ReturnStatus:
        response = await self.api.get(f"/v1/returns/{return_id}", headers=self._headers("storefront"))
        return ReturnStatus.model_validate_json(response.raise_for_status().content)

    async def _carrier_scans(self, return_id: str, status: TrackingStatus) -> dict[str, Any]:
        """The carrier scans the parcel at Shippo (the sandbox); answers the track Shippo posts."""
        label = (await self._status(return_id)).label
        if label is None:
            raise RuntimeError(f"return {return_id} has no label to scan")
        shippo = self.returns.client.settings.shippo_base
        path = f"{shippo}/_sandbox/tracks/{label.tracking_number}/events"
        response = await self.api.post(path, json={"status": status.value})
        return response.raise_for_status().json()

    def _headers(self, role: str) -> dict[str, str]:
        return role_headers(self.returns.client.settings, role, "bench")


def _view(status: ReturnStatus) -> View:
    return View(stage=status.stage, received=any(line.received_quantity for line in status.lines))


@dataclass
class BaselineFlavor:
    """bench.baseline.BaselineReturn on the default converter, always signalled directly."""

    name: str
    client: Client  # with the default data converter
    task_queue: str
    done = staticmethod(is_completion)

    @staticmethod
    def label_ready(event: HistoryEvent) -> bool:
        return is_activity_scheduled(event, baseline.NOTIFICATION)

    async def prepare(self, return_id: str) -> dict[str, Any]:
        return {"return_id": return_id, "order_id": f"ORD-{return_id}", "lines": list(ALL_UNITS)}

    async def start(self, prepared: dict[str, Any]) -> WorkflowHandle:
        return await self.client.start_workflow(
            baseline.WORKFLOW_NAME, prepared, id=f"baseline-{prepared['return_id']}", task_queue=self.task_queue
        )

    async def tell(self, handle: WorkflowHandle, event: Event, n: int) -> float:
        sent = perf_counter()
        if isinstance(event, Scan):
            scan = {"event_id": f"{handle.id}-{n}", "status": event.status.value, "occurred_at": _now()}
            await handle.signal("carrier_scan", scan)
        elif isinstance(event, Receipt):
            receipt = {"receipt_id": f"{handle.id}-{n}", "lines": event.quantities}
            await handle.execute_update("record_receipt", receipt)
        else:
            grades = {line_id: grade.value for line_id, grade in event.grades.items()}
            await handle.execute_update("record_inspection", {"inspector": "dock-1", "grades": grades})
        return sent

    async def view(self, handle: WorkflowHandle) -> View:
        status = await handle.query("status")
        return View(stage=Stage(status["stage"]), received=status["received"])


def _now() -> str:
    return datetime.now(UTC).isoformat()
