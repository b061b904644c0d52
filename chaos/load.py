"""`python -m chaos load`: 200 returns started at once through the API, then their events, each
phase a burst across all of them; the latency of every route (p50, p95, p99) and every answer that
was neither a success nor a documented 503 with `Retry-After`.

Phases, each all returns at once: eligibility; start; operators approve or reject the ones in
review; the label (a few purchases Shippo refuses, which operators retry); an operator extends a
deadline, shoppers cancel some; the carrier's three scans
(Shippo webhooks); the warehouse's receipt; an operator overrides a disposition; the inspection;
Stripe's refund events; the work order confirmed; then the timeline and list reads. Callers retry
a 503 after its `Retry-After`, as the API asks. Figures are recorded, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activities.models import OrderPayment
from chaos.caller import ApiCaller, RouteStats
from chaos.report import render_routes, write_json
from chaos.vendors import Vendors
from devstack.checkout import DEMO_GRADES, charge_shopper, demo_order, demo_request, seed_order
from devstack.demo import role_headers
from devstack.stack import LOAD_SERVER_ARGS, ROOT, LocalStack, Ports
from integrations.settings import Settings
from workflows.models import ReturnLine, ReturnStatus
from workflows.vocabulary import CLOSED_STAGES, ReasonCode, Stage, TrackingStatus

DEFAULT_OUTPUT = ROOT / ".run" / "chaos" / "load.json"
SUCCESS = {"200", "201", "202"}
# Answers a phase expects besides success: a refused action is part of the story (a cancel of a
# return that just shipped, say), but counted.
EXPECTED_REFUSALS = {"409"}


@dataclass
class LoadReturn:
    return_id: str
    role: str  # standard | approve | reject | cancel
    request: dict[str, Any]
    status: ReturnStatus | None = None


async def run(returns: int, workers: int) -> dict[str, Any]:
    began = time.monotonic()
    stats = RouteStats()
    out_dir = DEFAULT_OUTPUT.parent
    stack = LocalStack(
        ports=Ports.free(),
        ui=False,
        log_dir=out_dir / "load-logs",
        server_args=LOAD_SERVER_ARGS,
        server_log_level="error",
    )
    phases: dict[str, float] = {}
    async with stack:
        for _ in range(workers - 1):
            stack.start_worker()
        api = ApiCaller(stack.api_url, stats)
        vendors = Vendors(stack.settings)
        settings = stack.settings
        try:
            load = await _prepare(settings, returns)
            driver = Driver(api, vendors, settings, load)
            for name, phase in driver.phases():
                started = time.monotonic()
                await phase()
                phases[name] = round(time.monotonic() - started, 1)
                print(f"[load] {name}: {phases[name]} s", flush=True)
        finally:
            await api.aclose()
            await vendors.aclose()
    routes = stats.summary()
    unexpected = {
        route: {s: n for s, n in figures["statuses"].items() if s not in SUCCESS | {"503"} | EXPECTED_REFUSALS}
        for route, figures in routes.items()
    }
    return {
        "returns": returns,
        "workers": workers,
        "wall_s": round(time.monotonic() - began, 1),
        "phases_s": phases,
        "completed": sum(1 for r in load if r.status and r.status.stage is Stage.completed),
        "final_stages": _count(r.status.stage.value if r.status else "unread" for r in load),
        "routes": routes,
        "unavailable_503": sum(int(f["statuses"].get("503", 0)) for f in routes.values()),
        "503_without_retry_after": dict(stats.unavailable_without_retry_after),
        "errors": {route: counts for route, counts in unexpected.items() if counts},
        "refusals_409": {route: f["statuses"]["409"] for route, f in routes.items() if "409" in f["statuses"]},
    }


async def _prepare(settings: Settings, count: int) -> list[LoadReturn]:
    """The shop's checkouts, before the clock: one order and payment per return."""
    slots = asyncio.Semaphore(16)
    run_id = f"{int(time.time()) % 100_000:05d}"

    async def one(index: int) -> LoadReturn:
        role = {0: "approve", 1: "reject", 2: "cancel"}.get(index % 20, "standard")
        return_id = f"LD-{run_id}-{index:04d}"
        async with slots:
            changes: dict[str, Any] = {"customer_id": f"CUS-{return_id}"}
            order = demo_order(f"ORD-{return_id}", f"CUS-{return_id}")
            amount = 2 * 2500 + 1200 + 599
            if role in ("approve", "reject"):  # worth more than the review threshold
                line = ReturnLine(line_id="L1", sku="CAMERA", quantity=2, unit_price=30_000, reason=ReasonCode.unwanted)
                changes["lines"] = [line]
                order = order.model_copy(
                    update={"lines": [order.lines[0].model_copy(update={"sku": "CAMERA", "unit_price": 30_000})]}
                )
                amount = 60_000 + 599
            payment_intent = await charge_shopper(settings, amount)
            request = demo_request(return_id, payment_intent, order.order_id, **changes)
            payment = OrderPayment(payment_intent_id=payment_intent, amount=amount)
            await seed_order(settings, order.model_copy(update={"payments": [payment]}))
        return LoadReturn(return_id, role, request.model_dump(mode="json"))

    return list(await asyncio.gather(*(one(i) for i in range(count))))


class Driver:
    def __init__(self, api: ApiCaller, vendors: Vendors, settings: Settings, load: list[LoadReturn]):
        self.api = api
        self.vendors = vendors
        self.settings = settings
        self.load = load
        self.tracking: dict[str, str] = {}

    def phases(self) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        return [
            ("eligibility", lambda: self._each(self._eligibility)),
            ("start", self._start_all),
            ("review", lambda: self._each(self._review, roles=("approve", "reject"))),
            ("label", lambda: self._each(self._label, roles=("standard", "approve", "cancel"))),
            ("extend and cancel", lambda: self._each(self._extend_or_cancel, roles=("standard", "cancel"))),
            ("carrier scans", lambda: self._each(self._scans, roles=("standard", "approve"))),
            ("receipts", lambda: self._each(self._receipt, roles=("standard", "approve"))),
            ("disposition overrides", lambda: self._each(self._override, roles=("standard",))),
            ("inspections", lambda: self._each(self._inspection, roles=("standard", "approve"))),
            ("stripe events", lambda: self._each(self._stripe, roles=("standard", "approve"))),
            ("completion and confirmations", lambda: self._each(self._confirm, roles=("standard", "approve"))),
            ("reads", self._reads),
        ]

    async def _each(self, step: Callable[[LoadReturn], Awaitable[None]], roles: tuple[str, ...] | None = None) -> None:
        await asyncio.gather(*(step(r) for r in self.load if roles is None or r.role in roles))

    def _headers(self, role: str) -> dict[str, str]:
        return role_headers(self.settings, role, "load")

    async def _eligibility(self, r: LoadReturn) -> None:
        await self.api.call(
            "POST", "/v1/eligibility", route="POST /v1/eligibility", json=r.request, headers=self._headers("storefront")
        )

    async def _start_all(self) -> None:
        """All at once; a few label purchases Shippo refuses for good, so operators retry those returns."""
        refused = {"method": "POST", "path": "/shipments", "status": 400, "times": max(1, len(self.load) // 20)}
        (await self.vendors.admin("shippo").post("/_sandbox/faults", json=refused)).raise_for_status()
        await self._each(self._start)

    async def _start(self, r: LoadReturn) -> None:
        await self.api.call(
            "POST", "/v1/returns", route="POST /v1/returns", json=r.request, headers=self._headers("storefront")
        )

    async def _review(self, r: LoadReturn) -> None:
        await self._until(r, lambda s: s.stage is Stage.needs_review or s.stage in CLOSED_STAGES)
        action = "approve" if r.role == "approve" else "reject"
        await self.api.call(
            "POST",
            f"/v1/returns/{r.return_id}/{action}",
            route=f"POST /v1/returns/{{id}}/{action}",
            json={"reason": "load test"},
            headers=self._headers("operator"),
        )

    async def _label(self, r: LoadReturn) -> None:
        status = await self._until(r, lambda s: s.stage is Stage.label_issued or s.stage in CLOSED_STAGES)
        if status.label is not None:
            self.tracking[r.return_id] = status.label.tracking_number

    async def _extend_or_cancel(self, r: LoadReturn) -> None:
        if r.role == "cancel":
            path, route, body, role = "cancel", "cancel", {"reason": "changed my mind"}, "storefront"
        elif int(r.return_id[-4:]) % 10 == 3:
            path, route, role = "deadline-extensions", "deadline-extensions", "operator"
            body = {"deadline": "ship_by", "days": 3, "reason": "shopper abroad"}
        else:
            return
        await self.api.call(
            "POST",
            f"/v1/returns/{r.return_id}/{path}",
            route=f"POST /v1/returns/{{id}}/{route}",
            json=body,
            headers=self._headers(role),
        )

    async def _scans(self, r: LoadReturn) -> None:
        tracking = self.tracking.get(r.return_id)
        if tracking is None:
            return
        for scan in (TrackingStatus.pre_transit, TrackingStatus.transit, TrackingStatus.delivered):
            body = await self.vendors.scan(tracking, scan)
            await self.api.call(
                "POST",
                "/v1/webhooks/shippo",
                route="POST /v1/webhooks/shippo",
                content=lambda body=body: self.vendors.shippo_delivery(body),
                params=self.vendors.shippo_params,
            )

    async def _receipt(self, r: LoadReturn) -> None:
        lines = [{"line_id": line["line_id"], "quantity": line["quantity"]} for line in r.request["lines"]]
        await self.api.call(
            "POST",
            f"/v1/returns/{r.return_id}/receipts",
            route="POST /v1/returns/{id}/receipts",
            json={"receipt_id": f"{r.return_id}-P1", "lines": lines},
            headers=self._headers("warehouse"),
        )

    async def _override(self, r: LoadReturn) -> None:
        if int(r.return_id[-4:]) % 10 != 5:
            return
        await self.api.call(
            "POST",
            f"/v1/returns/{r.return_id}/disposition-overrides",
            route="POST /v1/returns/{id}/disposition-overrides",
            json={"line_id": "L2", "disposition": "refurbish", "reason": "repairable"},
            headers=self._headers("operator"),
        )

    async def _inspection(self, r: LoadReturn) -> None:
        grades = {line["line_id"]: DEMO_GRADES.get(line["line_id"], DEMO_GRADES["L1"]) for line in r.request["lines"]}
        await self.api.call(
            "POST",
            f"/v1/returns/{r.return_id}/inspection",
            route="POST /v1/returns/{id}/inspection",
            json={"lines": [{"line_id": line_id, "grade": grade.value} for line_id, grade in grades.items()]},
            headers=self._headers("warehouse"),
        )

    async def _stripe(self, r: LoadReturn) -> None:
        deadline = time.monotonic() + 300
        refunds: list[dict[str, Any]] = []
        while not refunds and time.monotonic() < deadline:
            refunds = await self.vendors.refunds_of(r.request["payment_intent_id"])
            if not refunds:
                await asyncio.sleep(1)
        for refund in refunds[:1]:
            for kind in ("refund.created", "refund.updated"):
                await self.api.call(
                    "POST",
                    "/v1/webhooks/stripe",
                    route="POST /v1/webhooks/stripe",
                    content=lambda refund=refund, kind=kind: self.vendors.stripe_delivery(refund, kind),
                )

    async def _confirm(self, r: LoadReturn) -> None:
        status = await self._until(r, lambda s: s.stage in CLOSED_STAGES)
        for line in status.lines:
            if line.disposition_work_id and line.disposition and line.disposition.value != "restock":
                await self.api.call(
                    "POST",
                    f"/v1/returns/{r.return_id}/disposition-confirmations",
                    route="POST /v1/returns/{id}/disposition-confirmations",
                    json={"line_id": line.line_id},
                    headers=self._headers("warehouse"),
                )

    async def _reads(self) -> None:
        async def timeline(r: LoadReturn) -> None:
            await self.api.call(
                "GET",
                f"/v1/returns/{r.return_id}/timeline",
                route="GET /v1/returns/{id}/timeline",
                headers=self._headers("operator"),
            )
            r.status = await self._status(r)

        async def listing(n: int) -> None:
            params = (
                {"stage": "completed", "page_size": "50"}
                if n % 2
                else {"customer_id": self.load[n].request["customer_id"]}
            )
            await self.api.call(
                "GET", "/v1/returns", route="GET /v1/returns", params=params, headers=self._headers("operator")
            )

        await asyncio.gather(*(timeline(r) for r in self.load), *(listing(n) for n in range(min(40, len(self.load)))))

    async def _status(self, r: LoadReturn) -> ReturnStatus:
        response = await self.api.call(
            "GET", f"/v1/returns/{r.return_id}", route="GET /v1/returns/{id}", headers=self._headers("storefront")
        )
        return ReturnStatus.model_validate_json(response.content)

    async def _until(
        self, r: LoadReturn, reached: Callable[[ReturnStatus], bool], timeout: float = 600
    ) -> ReturnStatus:
        deadline = time.monotonic() + timeout
        while True:
            status = await self._status(r)
            if reached(status) or time.monotonic() > deadline:
                r.status = status
                return status
            if status.attention is not None and status.attention.step is not None:
                await self.api.call(
                    "POST",
                    f"/v1/returns/{r.return_id}/retry",
                    route="POST /v1/returns/{id}/retry",
                    json={"reason": "Shippo is back"},
                    headers=self._headers("operator"),
                )
            await asyncio.sleep(1)


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def render(results: dict[str, Any]) -> str:
    lines = [
        f"Load: {results['returns']} returns at once, {results['workers']} workers, {results['wall_s']:.0f} s;"
        f" final stages {results['final_stages']}",
        f"phases (s): {results['phases_s']}",
        f"503 answers (each with Retry-After, tried again): {results['unavailable_503']};"
        f" without Retry-After: {sum(results['503_without_retry_after'].values())}",
        f"errors (neither success, 409 nor 503): {results['errors'] or 'none'};"
        f" 409 refusals: {results['refusals_409'] or 'none'}",
        "",
        render_routes(results["routes"]),
    ]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    returns = args.returns or (20 if args.quick else 200)
    output: Path = args.output or DEFAULT_OUTPUT
    results = asyncio.run(run(returns, workers=2))
    write_json(results, output)
    print(f"\n{render(results)}\n\nresults: {output}")
    return 0 if not results["errors"] and not results["503_without_retry_after"] else 1
