"""One return driven through the doors by the shop, the carrier, Stripe and the warehouse, each
behaving as the real one does: retrying when there is no answer, redelivering webhooks, sending
them out of order or all at once. What it saw goes into its trace, for the failure report.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import workflows.rules as rules
from chaos.caller import GaveUp
from chaos.context import Context, Held
from chaos.scenarios import Expectation, ReturnPlan
from workflows.models import ReturnStatus
from workflows.vocabulary import CLOSED_STAGES, Disposition, RefundState, ReturnMethod, Stage, TrackingStatus

SHIPPO_ROUTE = "POST /v1/webhooks/shippo"
STRIPE_ROUTE = "POST /v1/webhooks/stripe"
POLL_SECONDS = 1.0


class Stuck(Exception):
    """The return did not get where its plan says within the journey's time."""


@dataclass
class JourneyResult:
    return_id: str
    kind: str
    finished: bool = False
    error: str | None = None
    seconds: float = 0.0
    trace: list[str] = field(default_factory=list)
    payment_intent: str | None = None
    last_status: dict[str, Any] | None = None


class Journey:
    def __init__(self, context: Context, plan: ReturnPlan, expected: Expectation):
        self.context = context
        self.plan = plan
        self.expected = expected
        self.result = JourneyResult(plan.return_id, plan.kind)
        self._began = time.monotonic()
        self._retried_attention: set[str] = set()

    @property
    def _path(self) -> str:
        return f"/v1/returns/{self.plan.return_id}"

    def note(self, what: str) -> None:
        self.result.trace.append(f"{time.monotonic() - self._began:7.1f}s {what}")

    async def drive(self) -> JourneyResult:
        try:
            await asyncio.wait_for(self._drive(), self.context.config.journey_timeout_s)
            self.result.finished = True
        except (Stuck, GaveUp, TimeoutError) as error:
            self.result.error = f"{type(error).__name__}: {error}"
            self.note(f"gave up: {self.result.error}")
        except Exception as error:  # a harness bug must not hide the other returns' outcomes
            self.result.error = f"{type(error).__name__}: {error}"
            self.note(f"harness error: {self.result.error}")
        self.result.seconds = round(time.monotonic() - self._began, 1)
        return self.result

    async def _drive(self) -> None:
        plan = self.plan
        request = await self.context.vendors.checkout(plan)
        self.result.payment_intent = request["payment_intent_id"]
        self.note(f"checkout: {plan.kind}, {len(plan.lines)} line(s), paid {plan.order_total}")
        await self._start(request)
        if plan.start_twice:
            await self._start(request)
        if plan.kind == "declined":
            await self._until(lambda s: s.stage is Stage.declined, "declined")
            return
        if plan.method is ReturnMethod.keep_it:
            await self._follow_money()
            await self._until_settled()
            return
        if plan.method is ReturnMethod.in_store:
            await self._until(lambda s: s.stage is not Stage.requested, "approved")
            await self._receive()
        else:
            # Not as soon as `label` shows: the tracking registration follows the purchase, and the
            # shopper is told (and can ship) only once the return is label_issued.
            status = await self._until(
                lambda s: rules.is_at_or_past(s.stage, Stage.label_issued) or s.stage in CLOSED_STAGES, "label issued"
            )
            if status.label is None:
                raise Stuck(f"closed {status.stage.value} without a label")
            tracking = status.label.tracking_number
            if plan.cancelled:
                await self._cancel(tracking)
                return
            if plan.receipt_before_scans:
                await self._receive()
            await self._carrier(tracking)
            if not plan.receipt_before_scans:
                await self._receive()
        await self._inspect()
        await self._follow_money()
        status = await self._until_settled()
        await self._confirm_work(status)

    # --- The storefront ---------------------------------------------------------------------------

    async def _start(self, request: dict[str, Any]) -> None:
        response = await self.context.api.call(
            "POST", "/v1/returns", route="POST /v1/returns", json=request, headers=self.context.headers("storefront")
        )
        self.note(f"start -> {response.status_code}")
        if response.status_code not in (200, 201):
            raise Stuck(f"start refused: {response.status_code} {response.text[:300]}")

    async def _cancel(self, tracking: str) -> None:
        if self.plan.cancel_after_pre_transit:
            body = await self.context.vendors.scan(tracking, TrackingStatus.pre_transit)
            for _ in range(2):
                await self.context.deliver(self._shippo(body))
            self.note("carrier: PRE_TRANSIT delivered twice")
        lost_answer = False

        def retried() -> None:
            nonlocal lost_answer
            lost_answer = True

        response = await self.context.api.call(
            "POST",
            f"{self._path}/cancel",
            route="POST /v1/returns/{id}/cancel",
            json={"reason": "changed my mind"},
            headers=self.context.headers("storefront", "shopper"),
            on_retry=retried,
        )
        self.note(f"shopper cancels -> {response.status_code}")
        if response.status_code == 409 and lost_answer:
            self.context.tally.after_lost_answer["cancel"] += 1
        elif response.status_code != 200:
            raise Stuck(f"cancel refused: {response.status_code} {response.text[:300]}")
        await self._until(lambda s: s.stage in CLOSED_STAGES, "cancelled")

    # --- The carrier and Shippo -------------------------------------------------------------------

    async def _carrier(self, tracking: str) -> None:
        scans = (TrackingStatus.pre_transit, TrackingStatus.transit, TrackingStatus.delivered)
        bodies = [await self.context.vendors.scan(tracking, scan) for scan in scans]
        mode = self.plan.scan_delivery
        if mode == "in_order":
            order = [body for body in bodies for _ in range(2)]
        else:  # the latest first, each at least twice, duplicates apart
            pre, transit, delivered = bodies
            order = [delivered, transit, delivered, pre, transit, pre]
        deliveries = [self._shippo(body) for body in order]
        if mode == "batched":
            await self._send_held(deliveries)
        else:
            for delivery in deliveries:
                await self.context.deliver(delivery)
        self.note(f"carrier: 3 scans, {len(deliveries)} deliveries, {mode}")

    def _shippo(self, body: dict[str, Any]) -> Held:
        vendors = self.context.vendors
        return Held(
            self.plan.return_id,
            SHIPPO_ROUTE,
            "/v1/webhooks/shippo",
            lambda: vendors.shippo_delivery(body),
            vendors.shippo_params,
        )

    async def _send_held(self, deliveries: list[Held]) -> None:
        """Hands the deliveries to the next window with no worker; sends them itself if none comes."""
        held = self.context.held
        sent = held.hold(deliveries)
        try:
            await asyncio.wait_for(asyncio.shield(sent), self.context.config.no_worker_window_every_s * 3)
            self.note(f"{len(deliveries)} held deliveries sent while no worker ran")
            return
        except TimeoutError:
            mine = held.take_back(sent)
        if mine is None:  # a window took them meanwhile
            await sent
            return
        for delivery in mine:
            await self.context.deliver(delivery)
        self.context.tally.held_sent_by_owner += len(mine)
        self.note(f"{len(mine)} held deliveries sent without a window")

    # --- The warehouse ----------------------------------------------------------------------------

    async def _receive(self) -> None:
        warehouse = self.context.headers("warehouse", "dock-7")
        for receipt_id, lines in self.plan.receipts:
            body = {"receipt_id": receipt_id, "lines": [{"line_id": i, "quantity": n} for i, n in lines]}
            for delivery in ("first", "redelivered"):
                response = await self.context.api.call(
                    "POST",
                    f"{self._path}/receipts",
                    route="POST /v1/returns/{id}/receipts",
                    json=body,
                    headers=warehouse,
                )
                self.note(f"receipt {receipt_id} ({delivery}) -> {response.status_code}")
                if response.status_code != 202:
                    self.context.tally.refused.append(f"{self.plan.return_id}: receipt {response.text[:200]}")
                    raise Stuck(f"receipt refused: {response.status_code} {response.text[:300]}")

    async def _inspect(self) -> None:
        lines = [{"line_id": line.line_id, "grade": line.grade.value} for line in self.plan.lines if line.grade]
        lost_answer = False

        def retried() -> None:
            nonlocal lost_answer
            lost_answer = True

        response = await self.context.api.call(
            "POST",
            f"{self._path}/inspection",
            route="POST /v1/returns/{id}/inspection",
            json={"lines": lines},
            headers=self.context.headers("warehouse", "inspector-3"),
            on_retry=retried,
        )
        self.note(f"inspection -> {response.status_code}")
        if response.status_code == 202:
            return
        if response.status_code == 409 and lost_answer and (await self._status()).inspected_by:
            self.context.tally.after_lost_answer["inspection"] += 1  # the attempt that timed out went through
            return
        self.context.tally.refused.append(f"{self.plan.return_id}: inspection {response.text[:200]}")
        raise Stuck(f"inspection refused: {response.status_code} {response.text[:300]}")

    async def _confirm_work(self, status: ReturnStatus) -> None:
        open_work = [
            line.line_id
            for line in status.lines
            if line.disposition_work_id and line.disposition is not Disposition.restock
        ]
        for line_id in open_work:
            for delivery in ("first", "redelivered"):
                response = await self.context.api.call(
                    "POST",
                    f"{self._path}/disposition-confirmations",
                    route="POST /v1/returns/{id}/disposition-confirmations",
                    json={"line_id": line_id},
                    headers=self.context.headers("warehouse", "rework-1"),
                )
                self.note(f"work on {line_id} confirmed ({delivery}) -> {response.status_code}")
                if response.status_code != 200:
                    self.context.tally.refused.append(f"{self.plan.return_id}: confirmation {response.text[:200]}")
                    raise Stuck(f"confirmation refused: {response.status_code} {response.text[:300]}")
        if open_work:
            await self._until(
                lambda s: all(line.disposition_confirmed_by for line in s.lines if line.line_id in open_work),
                "work confirmed",
            )

    # --- Stripe -----------------------------------------------------------------------------------

    async def _follow_money(self) -> None:
        """When a refund is due, plays Stripe: settles a pending one and posts its events."""
        if self.expected.refund is None:
            return
        intent = self.result.payment_intent or ""
        first_seen = await self._until_refund(intent)
        events = [("refund.created", first_seen)]
        latest = first_seen
        if first_seen["status"] == "pending":
            await asyncio.sleep(self.context.rng.uniform(0.5, 3))
            latest = await self.context.vendors.settle_refund(first_seen["id"])
            self.note(f"stripe: refund {first_seen['id']} settled")
        events.append(("refund.updated", latest))
        vendors = self.context.vendors
        deliveries = [
            Held(
                self.plan.return_id,
                STRIPE_ROUTE,
                "/v1/webhooks/stripe",
                lambda refund=refund, kind=kind: vendors.stripe_delivery(refund, kind),
                {},
            )
            for kind, refund in events
        ]
        mode = self.plan.stripe_delivery
        order = [d for d in deliveries for _ in range(2)]
        if mode != "in_order":
            order = [deliveries[1], deliveries[0], deliveries[1], deliveries[0]]
        if mode == "batched":
            await self._send_held(order)
        else:
            for delivery in order:
                await self.context.deliver(delivery)
        self.note(f"stripe: {len(order)} deliveries ({first_seen['status']} then {latest['status']}), {mode}")

    async def _until_refund(self, payment_intent: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.context.config.journey_timeout_s
        while time.monotonic() < deadline:
            refunds = await self.context.vendors.refunds_of(payment_intent)
            if refunds:
                self.note(f"stripe: refund {refunds[0]['id']} of {refunds[0]['amount']} is {refunds[0]['status']}")
                return refunds[0]
            status = await self._status()
            await self._mind_attention(status)
            if status.stage in CLOSED_STAGES and not await self.context.vendors.refunds_of(payment_intent):
                raise Stuck(f"closed {status.stage.value} without a refund")
            await asyncio.sleep(POLL_SECONDS)
        raise Stuck("no refund appeared at Stripe")

    # --- Watching the return ----------------------------------------------------------------------

    async def _status(self) -> ReturnStatus:
        response = await self.context.api.call(
            "GET", self._path, route="GET /v1/returns/{id}", headers=self.context.headers("storefront")
        )
        if response.status_code != 200:
            raise Stuck(f"status answered {response.status_code} {response.text[:300]}")
        self.result.last_status = response.json()
        return ReturnStatus.model_validate(self.result.last_status)

    async def _until(self, reached: Any, what: str) -> ReturnStatus:
        deadline = time.monotonic() + self.context.config.journey_timeout_s
        while True:
            status = await self._status()
            if reached(status):
                self.note(f"{what}: stage {status.stage.value}")
                return status
            await self._mind_attention(status)
            if time.monotonic() > deadline:
                raise Stuck(f"not {what}: still {status.stage.value}")
            await asyncio.sleep(POLL_SECONDS)

    async def _until_settled(self) -> ReturnStatus:
        def settled(status: ReturnStatus) -> bool:
            refund = status.refund
            return status.stage is Stage.completed and (refund is None or refund.status is RefundState.succeeded)

        return await self._until(lambda s: settled(s) or s.stage in CLOSED_STAGES - {Stage.completed}, "settled")

    async def _mind_attention(self, status: ReturnStatus) -> None:
        """An operator retries a step whose retries ran out (the vendor is back by now)."""
        attention = status.attention
        if attention is None or attention.step is None:
            return
        occurrence = f"{attention.step}@{attention.since.isoformat()}"
        if occurrence in self._retried_attention:
            return
        self._retried_attention.add(occurrence)
        self.note(f"needs attention: {attention.reason} ({attention.error_type}: {attention.message})")
        response = await self.context.api.call(
            "POST",
            f"{self._path}/retry",
            route="POST /v1/returns/{id}/retry",
            json={"reason": "chaos: the vendor is back"},
            headers=self.context.headers("operator", "chaos-operator"),
        )
        self.context.tally.operator_retries += 1
        self.note(f"operator retry -> {response.status_code}")
