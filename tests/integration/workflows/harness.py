"""Drives returns on the time-skipping server the way shop, carrier and warehouse would."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.models import OrderFacts, OrderPayment
from devstack.checkout import DEMO_LINES, charge_shopper, demo_order, demo_request, seed_order
from devstack.polling import wait_for_stage
from integrations.settings import Settings
from starter.client import ReturnsClient
from tests.conftest import Sandboxes
from workflows.contract import REFUND_RETURN_ID_METADATA, label_metadata, workflow_id_for
from workflows.models import (
    CarrierScan,
    InspectionReport,
    LineInspection,
    OperatorAction,
    ParcelReceipt,
    ReceivedLine,
    ReturnRequest,
    ReturnStatus,
)
from workflows.policy import ReturnPolicy
from workflows.return_workflow import ReturnWorkflow
from workflows.vocabulary import Grade, Stage, TrackingStatus

OPERATOR = OperatorAction(actor="ops:kim", reason="checked with the customer")


def scan(status: TrackingStatus, event_id: str | None = None) -> CarrierScan:
    return CarrierScan(event_id=event_id or uuid.uuid4().hex, status=status, occurred_at=datetime.now(UTC))


@dataclass
class Returns:
    env: WorkflowEnvironment
    sandboxes: Sandboxes
    settings: Settings
    requests: dict[str, ReturnRequest] = field(default_factory=dict)

    def client(self, policy: ReturnPolicy) -> ReturnsClient:
        return ReturnsClient(self.env.client, self.settings, policy=policy)

    async def start(
        self,
        policy: ReturnPolicy,
        *,
        order: OrderFacts | None = None,
        paid: int = 10_000,
        seeded: bool = True,
        **request_changes: object,
    ) -> tuple[ReturnsClient, str]:
        """Seeds the order (unless given one already seeded, or `seeded=False`: an order the shop
        does not know), charges the shopper and starts a return; returns (client, return id)."""
        return_id = f"R-{uuid.uuid4().hex[:10]}"
        order = order or await self.order(f"ORD-{return_id}")
        if not order.payments:  # the order as the shop's checkout left it: paid
            payment = await charge_shopper(self.settings, paid)
            order = order.model_copy(update={"payments": [OrderPayment(payment_intent_id=payment, amount=paid)]})
        payment = order.payments[0].payment_intent_id
        if seeded:
            await seed_order(self.settings, order)
        request = demo_request(return_id, payment, order.order_id, **request_changes)
        client = self.client(policy)
        await client.start(request)
        self.requests[return_id] = request
        return client, return_id

    async def order(self, order_id: str, delivered_days_ago: float = 3) -> OrderFacts:
        """The demo order, dated by the test server's clock (time skips ahead across tests)."""
        return demo_order(order_id, "CUS-ada", delivered_days_ago, now=await self.env.get_current_time())

    async def until(
        self,
        client: ReturnsClient,
        return_id: str,
        predicate: Callable[[ReturnStatus], bool],
        *,
        skip: timedelta | None = None,
        timeout: float = 30,
    ) -> ReturnStatus:
        """Polls the status query until `predicate` holds (signals and activities are asynchronous).

        With `skip`, server time moves on by that much between polls (e.g. through retry backoff).
        """
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            status = await client.status(return_id)
            if predicate(status):
                return status
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{return_id} never got there: {status.stage.value}, {status.attention}")
            if skip:
                await self.env.sleep(skip)
            else:
                await asyncio.sleep(0.05)

    async def skip(self, days: float) -> None:
        await self.env.sleep(timedelta(days=days))

    async def ship(self, client: ReturnsClient, return_id: str) -> ReturnStatus:
        await wait_for_stage(client, return_id, Stage.label_issued)
        await client.record_carrier_scan(return_id, scan(TrackingStatus.transit))
        return await wait_for_stage(client, return_id, Stage.in_transit)

    async def deliver(self, client: ReturnsClient, return_id: str) -> ReturnStatus:
        await self.ship(client, return_id)
        await client.record_carrier_scan(return_id, scan(TrackingStatus.delivered))
        return await wait_for_stage(client, return_id, Stage.delivered)

    async def receive(self, client: ReturnsClient, return_id: str, quantities: dict[str, int] | None = None) -> None:
        quantities = quantities or {line.line_id: line.quantity for line in DEMO_LINES}
        await client.record_receipt(
            return_id,
            ParcelReceipt(
                receipt_id=uuid.uuid4().hex,
                received_by="dock-1",
                lines=[ReceivedLine(line_id=k, quantity=v) for k, v in quantities.items()],
            ),
        )

    async def inspect(self, client: ReturnsClient, return_id: str, grades: dict[str, Grade]) -> None:
        await client.record_inspection(
            return_id,
            InspectionReport(inspector="dock-1", lines=[LineInspection(line_id=k, grade=v) for k, v in grades.items()]),
        )

    async def finish(self, client: ReturnsClient, return_id: str, max_days: int = 60) -> ReturnStatus:
        """Lets days pass until the workflow ends (through any watch window); returns its result."""
        handle = self.handle(return_id)
        for _ in range(max_days):
            if (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING:
                break
            await self.env.sleep(timedelta(days=1))
        return await client.result(return_id)

    async def until_activity(self, return_id: str, activity: str, timeout: float = 30) -> None:
        """Waits until the return runs `activity` (the server lists it as pending)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            pending = (await self.handle(return_id).describe()).raw_description.pending_activities
            if any(p.activity_type.name == activity for p in pending):
                return
            assert asyncio.get_running_loop().time() < deadline, f"{return_id} never ran {activity}"
            await asyncio.sleep(0.05)

    def handle(self, return_id: str) -> WorkflowHandle:
        return self.env.client.get_workflow_handle_for(ReturnWorkflow.run, workflow_id_for(return_id))

    # --- What the vendors saw -----------------------------------------------------------

    def refunds(self, return_id: str) -> list[dict]:
        return [
            r
            for r in self.sandboxes.admin("stripe", "/_sandbox/refunds")
            if r["metadata"].get(REFUND_RETURN_ID_METADATA) == return_id
        ]

    def labels(self, return_id: str) -> list[dict]:
        return [
            t
            for t in self.sandboxes.admin("shippo", "/_sandbox/transactions")
            if t["metadata"] == label_metadata(return_id)
        ]

    def label_voids(self, return_id: str) -> list[dict]:
        ids = {label["object_id"] for label in self.labels(return_id)}
        return [r for r in self.sandboxes.admin("shippo", "/_sandbox/refunds") if r["transaction"] in ids]

    def shop(self, collection: str, return_id: str) -> list[dict]:
        return [
            item
            for item in self.sandboxes.admin("shop", f"/_sandbox/{collection}")
            if return_id in (item.get("return_id"), item.get("reference"))
        ]


HISTORIES = Path(__file__).resolve().parents[2] / "unit" / "workflows" / "histories"
# Bumped with each `workflow.patched` change, so the new shape of every branch is recorded beside
# the old ones (generation 1 has no tag): returns of every generation may still be running.
HISTORY_GENERATION = 9


async def record_histories(harness: Returns, test_name: str) -> None:
    """Saves the history of every return a test started, for the replay tests (never overwrites)."""
    HISTORIES.mkdir(exist_ok=True)
    generation = f"-g{HISTORY_GENERATION}" if HISTORY_GENERATION > 1 else ""
    for n, return_id in enumerate(harness.requests, start=1):
        history = await harness.handle(return_id).fetch_history()
        name = re.sub(r"[^A-Za-z0-9_]+", "_", test_name.removeprefix("test_")).strip("_")
        path = HISTORIES / f"{name}{generation}-{n}.json"
        if not path.exists():  # recordings of older code stay: running returns may have that shape
            path.write_text(history.to_json())


def stages_reached(status: ReturnStatus) -> list[Stage]:
    reached: list[Stage] = []
    for entry in status.timeline:
        if not reached or reached[-1] is not entry.stage:
            reached.append(entry.stage)
    return reached
