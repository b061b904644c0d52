"""The operator console (`returnsctl`), run as a subprocess against the dev server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devstack.polling import wait_for_stage
from starter.client import ReturnsClient
from tests.system.api.doors import Doors, eventually
from workflows.contract import workflow_id_for
from workflows.models import CarrierScan, ReturnStatus
from workflows.vocabulary import Stage

pytestmark = pytest.mark.devserver

RETURNSCTL = Path(sys.executable).with_name("returnsctl")  # installed by [project.scripts]


@dataclass
class Run:
    code: int
    out: str
    err: str


async def returnsctl(doors: Doors, *args: str, answer: str = "") -> Run:
    env = {**os.environ, "TEMPORAL_ADDRESS": doors.stack.settings.temporal_address, "RETURNS_OPERATOR": "kim"}
    process = await asyncio.create_subprocess_exec(
        RETURNSCTL,
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(answer.encode())
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


async def stuck_on_label(doors: Doors, customer_id: str | None = None) -> ReturnStatus:
    """A return whose label purchase failed for good (Shippo refused it): it waits for a retry."""
    shippo = doors.stack.sandbox_url("shippo")
    await doors.http.post(f"{shippo}/_sandbox/faults", json={"method": "POST", "path": "/shipments", "status": 400})
    request = await doors.new_request(**({"customer_id": customer_id} if customer_id else {}))
    (await doors.start(request)).raise_for_status()
    return await eventually(lambda: doors.status(request.return_id), lambda status: status.attention is not None)


async def listed_as_stuck(doors: Doors, *return_ids: str) -> bool:
    async def stuck() -> set[str]:
        run = await returnsctl(doors, "list", "--needs-attention", "--json")
        return {summary["return_id"] for summary in json.loads(run.out)["returns"]}

    return set(return_ids) <= await eventually(stuck, lambda found: set(return_ids) <= found)


async def test_list_finds_a_stuck_return_and_retry_moves_it_on(doors: Doors, returns: ReturnsClient) -> None:
    stuck = await stuck_on_label(doors)
    assert await listed_as_stuck(doors, stuck.return_id)

    table = await returnsctl(doors, "list", "--needs-attention", "--stage", "approved")
    shown = await returnsctl(doors, "show", stuck.return_id)
    retried = await returnsctl(doors, "retry", stuck.return_id, "--reason", "Shippo is back")

    assert table.code == 0 and stuck.return_id in table.out and "yes" in table.out
    assert "failed step: buy label" in shown.out
    assert (retried.code, retried.out.strip()) == (0, f"retry: {stuck.return_id} is approved")
    moved = await wait_for_stage(returns, stuck.return_id, Stage.label_issued)
    assert moved.stage is Stage.label_issued
    assert any(entry.actor == "operator:kim" and "Shippo is back" in entry.detail for entry in moved.timeline)


async def test_approve_moves_a_return_out_of_review(doors: Doors, returns: ReturnsClient) -> None:
    review = await doors.started(Stage.needs_review, order_changes={"customer_return_count": 11})
    run = await returnsctl(doors, "approve", review.return_id, "--reason", "known customer", "--actor", "lee")
    assert run.code == 0, run.err
    moved = await wait_for_stage(returns, review.return_id, Stage.label_issued)
    assert any(entry.actor == "operator:lee" for entry in moved.timeline)


async def test_batch_retry_shows_what_it_touches_and_asks_first(doors: Doors, returns: ReturnsClient) -> None:
    customer = f"CUS-{uuid.uuid4().hex[:8]}"
    stuck = [await stuck_on_label(doors, customer) for _ in range(2)]
    assert await listed_as_stuck(doors, *(status.return_id for status in stuck))
    query = f"ReturnCustomerId = '{customer}' AND ReturnNeedsAttention = 'true'"

    declined = await returnsctl(doors, "retry", "--query", query, "--reason", "outage over", answer="n\n")
    accepted = await returnsctl(doors, "retry", "--query", query, "--reason", "outage over", answer="y\n")

    assert declined.code == 5 and "nothing done" in declined.out
    assert all(status.return_id in declined.out for status in stuck)
    assert accepted.code == 0, accepted.out + accepted.err
    for status in stuck:
        assert (await wait_for_stage(returns, status.return_id, Stage.label_issued)).stage is Stage.label_issued


async def test_batch_cancel_with_yes_does_not_ask(doors: Doors, returns: ReturnsClient) -> None:
    customer = f"CUS-{uuid.uuid4().hex[:8]}"
    started = await doors.started(Stage.label_issued, customer_id=customer)
    await eventually(lambda: returns.search_returns(f"ReturnCustomerId = '{customer}'"), lambda page: page.returns)

    run = await returnsctl(
        doors, "cancel", "--query", f"ReturnCustomerId = '{customer}'", "--reason", "fraud ring", "--yes"
    )

    assert run.code == 0, run.out + run.err
    assert (await wait_for_stage(returns, started.return_id, Stage.cancelled)).stage is Stage.cancelled


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("approve", "R-unknown", "--reason", "x"), 3, "no return with id"),
        (("list", "--order", "it's"), 2, "invalid input"),
        (("retry", "--query", "ReturnStage = ", "--reason", "x", "--yes"), 2, "invalid input"),
        (("approve", "R-any", "--reason", "ok\n2026-01-01 completed operator:kim"), 2, "line breaks"),
    ],
)
async def test_exit_codes(doors: Doors, args: tuple[str, ...], code: int, says: str) -> None:
    run = await returnsctl(doors, *args)
    assert (run.code, says in run.err) == (code, True), run.err


async def test_an_action_the_state_refuses_exits_4(doors: Doors) -> None:
    status = await doors.started(Stage.label_issued)
    run = await returnsctl(doors, "approve", status.return_id, "--reason", "x")
    assert run.code == 4
    assert "refused" in run.err and "label_issued" in run.err


async def test_show_prints_text_from_a_return_s_history_escaped(doors: Doors, returns: ReturnsClient) -> None:
    """Text that reached a return before the doors refused it (or straight through Temporal) can't
    forge a line of `show`: the scan's location below holds a line break and a terminal escape."""
    status = await doors.started(Stage.label_issued)
    forged = "Oakland\n  2026-01-01 00:00:00  completed     operator:kim         refund approved\x1b[2J"
    scan = CarrierScan(event_id="legacy-1", status="TRANSIT", occurred_at=datetime.now(UTC), location=forged)
    await returns.temporal.get_workflow_handle(workflow_id_for(status.return_id)).signal("carrier_scan", scan)
    await wait_for_stage(returns, status.return_id, Stage.in_transit)

    run = await returnsctl(doors, "show", status.return_id)

    assert run.code == 0, run.err
    timeline = run.out.split("Timeline:\n", 1)[1].splitlines()
    assert len(timeline) == len((await returns.status(status.return_id)).timeline)
    assert any("Oakland\\n  2026-01-01" in line and "\\x1b[2J" in line for line in timeline)
    assert "\x1b" not in run.out
