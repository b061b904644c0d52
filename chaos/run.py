"""`python -m chaos run`: N returns through the doors under faults, then the audit.

The stack is LocalStack (devstack/stack.py) with a second worker: the Temporal CLI dev server on
a SQLite file (so it can be killed and started again on the same data), the three sandboxes in
one process, two worker processes and one API process, all on free loopback ports. The production
topology (deploy/, PostgreSQL and four shards) has its own resilience tests; here the dev server
keeps a 1,000-return run within reach of two cores and the quick run within CI's minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shutil
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaos.audit import Violation, as_json, check, fetch_ledgers, headline
from chaos.caller import ApiCaller, RouteStats
from chaos.context import ChaosConfig, Context, HeldDeliveries, Tally
from chaos.faults import FaultController
from chaos.journey import Journey, JourneyResult
from chaos.scenarios import Expectation, ReturnPlan, expectation, plan_returns
from chaos.vendors import Vendors
from devstack.stack import LOAD_SERVER_ARGS, LocalStack, Ports
from starter.policy import load_return_policy
from workflows.contract import workflow_id_for
from workflows.return_workflow import ReturnWorkflow


async def run(config: ChaosConfig) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:6]
    policy = load_return_policy(None)
    plans = plan_returns(config.returns, config.seed, run_id)
    expected = {plan.return_id: expectation(plan, policy) for plan in plans}
    out_dir = config.output.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    db_file = out_dir / "temporal.db"
    for stale in (db_file, out_dir / "failures", out_dir / "logs"):
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
    began = time.monotonic()
    stack = LocalStack(
        ports=Ports.free(),
        db_file=db_file,
        ui=False,
        log_dir=out_dir / "logs",
        server_args=LOAD_SERVER_ARGS,
        server_log_level="error",  # its warnings (slow calls while workers die) are the point of the run
    )
    async with stack:
        for _ in range(config.workers - 1):
            stack.start_worker()
        stats = RouteStats()
        api = ApiCaller(stack.api_url, stats)
        vendors = Vendors(stack.settings)
        context = Context(config, stack.settings, api, vendors, HeldDeliveries(), Tally(), _rng(config.seed))
        try:
            results, faults, unfired, drive_s = await _drive(stack, context, plans, expected)
            print(f"[chaos] {len(results)} journeys done in {drive_s:.0f} s; settling and auditing ...", flush=True)
            statuses = await _settle(context, plans, expected, config.settle_timeout_s)
            ledgers = await fetch_ledgers(context, {plan.return_id for plan in plans})
            violations = [
                v for plan in plans for v in check(plan, expected[plan.return_id], statuses[plan.return_id], ledgers)
            ]
            violations += [Violation("-", "no vendor record without its return", stray) for stray in ledgers.strays]
            lost_events = {
                k: n
                for k, n in context.tally.webhook_outcomes.items()
                if ":signalled" not in k and ":return_closed" not in k
            }
            if lost_events:
                detail = f"webhooks about this run's returns answered {lost_events}"
                violations.append(Violation("-", "every webhook reaches its return", detail))
            client = await stack.client()
            workflows = (await client.temporal.count_workflows(f"WorkflowType = '{ReturnWorkflow.__name__}'")).count
            if workflows != len(plans):
                violations.append(
                    Violation("-", "one workflow per return", f"{workflows} workflows, {len(plans)} returns")
                )
            failed = sorted(
                {v.return_id for v in violations if v.return_id != "-"} | {r.return_id for r in results if r.error}
            )
            dossiers = await _dossiers(stack, out_dir, failed, plans, expected, results, statuses, ledgers, violations)
        finally:
            await api.aclose()
            await vendors.aclose()
    outcomes = _outcomes(plans, expected, statuses, violations)
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version()},
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "run_id": run_id,
        "wall_s": round(time.monotonic() - began, 1),
        "drive_s": round(drive_s, 1),
        "returns": len(plans),
        "kinds": dict(Counter(plan.kind for plan in plans)),
        "deliveries": {
            "scans": dict(Counter(plan.scan_delivery for plan in plans if plan.ships and not plan.cancelled)),
            "stripe": dict(Counter(p.stripe_delivery for p in plans if expected[p.return_id].refund)),
        },
        "outcomes": outcomes,
        "headline": headline(violations),
        "violations": as_json(violations),
        "journeys": {
            "finished": sum(r.finished for r in results),
            "gave_up": [{"return_id": r.return_id, "error": r.error} for r in results if r.error],
            "seconds": _spread([r.seconds for r in results]),
        },
        "faults": {"injected": dict(faults.counts), "unfired": unfired, "events": faults.events},
        "callers": {
            "webhook_outcomes": dict(context.tally.webhook_outcomes),
            "webhooks_not_signalled": context.tally.not_signalled,
            "operator_retries": context.tally.operator_retries,
            "found_done_after_lost_answer": dict(context.tally.after_lost_answer),
            "held_deliveries_sent_with_no_worker": context.tally.held_sent_in_window,
            "held_deliveries_sent_by_owner": context.tally.held_sent_by_owner,
            "refused": context.tally.refused,
            "503_without_retry_after": dict(stats.unavailable_without_retry_after),
        },
        "routes": stats.summary(),
        "ledgers": ledgers.sizes,
        "workflows": workflows,
        "failures": dossiers,
    }


async def _drive(
    stack: LocalStack, context: Context, plans: list[ReturnPlan], expected: dict[str, Expectation]
) -> tuple[list[JourneyResult], Any, dict[str, int], float]:
    finished = 0
    slots = asyncio.Semaphore(context.config.in_flight)
    controller = FaultController(stack, context, progress=lambda: finished / len(plans))
    done = asyncio.Event()
    began = time.monotonic()

    async def one(plan: ReturnPlan) -> JourneyResult:
        nonlocal finished
        async with slots:
            result = await Journey(context, plan, expected[plan.return_id]).drive()
        finished += 1
        if finished % max(1, len(plans) // 20) == 0 or result.error:
            elapsed = time.monotonic() - began
            outcome = f"; {result.return_id} gave up: {result.error}" if result.error else ""
            print(f"[chaos] {finished}/{len(plans)} after {elapsed:.0f} s{outcome}", flush=True)
        return result

    faults = asyncio.create_task(controller.run(done))
    try:
        results = await asyncio.gather(*(one(plan) for plan in plans))
    finally:
        done.set()
        with contextlib.suppress(TimeoutError):  # a fault in progress finishes; one stuck is cancelled
            await asyncio.wait_for(faults, timeout=120)
    drive_s = time.monotonic() - began
    unfired = await controller.restore()
    # Held deliveries whose window never came are sent now, by their owners (they timed out).
    return list(results), controller.log, unfired, drive_s


async def _settle(
    context: Context, plans: list[ReturnPlan], expected: dict[str, Expectation], timeout: float
) -> dict[str, dict[str, Any] | None]:
    """Reads every return's final status; waits (bounded) for those not yet at their expected stage."""
    statuses: dict[str, dict[str, Any] | None] = {}
    reads = asyncio.Semaphore(16)
    deadline = time.monotonic() + timeout

    async def final(plan: ReturnPlan) -> None:
        journey = Journey(context, plan, expected[plan.return_id])
        async with reads:
            while True:
                try:
                    status = await journey._status()
                except Exception:
                    status = None
                statuses[plan.return_id] = journey.result.last_status
                if status is not None and status.stage is expected[plan.return_id].stage and status.attention is None:
                    return
                if time.monotonic() > deadline:
                    return
                if status is not None:
                    await journey._mind_attention(status)
                await asyncio.sleep(2)

    await asyncio.gather(*(final(plan) for plan in plans))
    return statuses


def _outcomes(
    plans: list[ReturnPlan],
    expected: dict[str, Expectation],
    statuses: dict[str, dict[str, Any] | None],
    violations: list[Violation],
) -> dict[str, dict[str, int]]:
    """Per kind of return: how many, how many held every invariant, and the final stages seen."""
    failed = {v.return_id for v in violations}
    table: dict[str, dict[str, int]] = {}
    for plan in plans:
        row = table.setdefault(plan.kind, {"returns": 0, "as_expected": 0})
        row["returns"] += 1
        row["as_expected"] += plan.return_id not in failed
        stage = (statuses.get(plan.return_id) or {}).get("stage", "unreadable")
        row[f"stage:{stage}"] = row.get(f"stage:{stage}", 0) + 1
    return table


async def _dossiers(
    stack: LocalStack,
    out_dir: Path,
    failed: list[str],
    plans: list[ReturnPlan],
    expected: dict[str, Expectation],
    results: list[JourneyResult],
    statuses: dict[str, dict[str, Any] | None],
    ledgers: Any,
    violations: list[Violation],
) -> list[dict[str, Any]]:
    """For each failed return: what it was, what it saw, what the vendors hold, and its Temporal history."""
    by_plan = {plan.return_id: plan for plan in plans}
    by_result = {result.return_id: result for result in results}
    folder = out_dir / "failures"
    dossiers = []
    for return_id in failed:
        folder.mkdir(exist_ok=True)
        plan, result = by_plan[return_id], by_result[return_id]
        dossier = {
            "return_id": return_id,
            "kind": plan.kind,
            "violations": [asdict(v) for v in violations if v.return_id == return_id],
            "journey_error": result.error,
            "plan": _jsonable(asdict(plan)),
            "expected": _jsonable(asdict(expected[return_id])),
            "trace": result.trace,
            "status": statuses.get(return_id),
            "ledgers": {
                name: getattr(ledgers, name).get(return_id, [])
                for name in ("refunds", "labels", "restocks", "work_orders", "store_credits", "exchange_orders")
            },
        }
        (folder / f"{return_id}.json").write_text(json.dumps(dossier, indent=2, default=str))
        history = folder / f"{return_id}.history.txt"
        history.write_text(await _workflow_show(stack, return_id))
        dossiers.append({"return_id": return_id, "dossier": str(folder / f"{return_id}.json"), "history": str(history)})
    return dossiers


async def _workflow_show(stack: LocalStack, return_id: str) -> str:
    cli = os.environ.get("TEMPORAL_CLI_PATH") or shutil.which("temporal")
    if cli is None:
        return "(no temporal CLI: set TEMPORAL_CLI_PATH)"
    command = [
        cli,
        "workflow",
        "show",
        "--detailed",
        "--color",
        "never",
        "--address",
        f"127.0.0.1:{stack.ports.temporal}",
    ]
    command.append("--workflow-id")
    shown = await asyncio.to_thread(
        subprocess.run, [*command, workflow_id_for(return_id)], capture_output=True, text=True, timeout=60
    )
    return shown.stdout + shown.stderr


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "p50": ordered[len(ordered) // 2],
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max": ordered[-1],
    }


def _rng(seed: int):
    import random

    return random.Random(seed + 1)
