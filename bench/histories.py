"""History: events and bytes per finished return, for each branch of the lifecycle.

Each branch runs one real return to its close, with the one deadline it depends on cut
to a couple of seconds (a happy return stays open for the refund-settle window after it
is resolved; an expired one waits for its ship-by deadline). The baseline's happy path
is measured beside them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.context import Bench, slug
from bench.driver import open_return, prepare_all, walk
from bench.flavors import HAPPY_PATH, PARTIAL_RECEIPT, Event, Flavor
from bench.history import STEP_TIMEOUT, history_size
from workflows.policy import ReturnPolicy
from workflows.vocabulary import ReturnMethod


@dataclass(frozen=True)
class Branch:
    name: str
    events: tuple[Event, ...] = ()
    short_deadlines: tuple[str, ...] = ()  # cut to config.deadline_seconds
    policy_changes: Mapping[str, Any] = field(default_factory=dict)
    request_changes: Mapping[str, Any] = field(default_factory=dict)


BRANCHES = (
    Branch("happy path", HAPPY_PATH, short_deadlines=("refund_settle", "disposition_work")),
    Branch("partial receipt", PARTIAL_RECEIPT, short_deadlines=("refund_settle", "disposition_work")),
    Branch("expired", short_deadlines=("ship_by",)),
    Branch(
        "keep it",
        short_deadlines=("refund_settle",),
        policy_changes={"keep_it_below": 10**9},
        request_changes={"method": ReturnMethod.keep_it},
    ),
)


async def run(bench: Bench) -> dict[str, Any]:
    real, baseline = await bench.lanes(["real", "baseline"])
    runs = {"baseline happy path": _measure(bench, baseline.flavor, HAPPY_PATH)}
    for branch in BRANCHES:
        policy = _policy(bench.policy, branch, bench.config.deadline_seconds)
        flavor = bench.flavor(
            "real", real.task_queue, name=branch.name, policy=policy, request_changes=branch.request_changes
        )
        runs[branch.name] = _measure(bench, flavor, branch.events)
    return dict(zip(runs, await asyncio.gather(*runs.values()), strict=True))


async def _measure(bench: Bench, flavor: Flavor, events: tuple[Event, ...]) -> dict[str, Any]:
    (prepared,) = await prepare_all(flavor, bench.return_ids(f"hist-{slug(flavor.name)}", 1))
    resolved_at: int | None = None
    if events:
        handle, follower = await open_return(flavor, prepared)
        await walk(flavor, handle, follower, events)
        resolved_at = (await follower.until(flavor.done)).event_id
    else:
        handle = await flavor.start(prepared)
    async with asyncio.timeout(STEP_TIMEOUT):
        result = await handle.result()
    return {
        "final_stage": result["stage"],
        "events_until_resolved": resolved_at,
        **await history_size(handle),
    }


def _policy(policy: ReturnPolicy, branch: Branch, seconds: float) -> ReturnPolicy:
    short = {f"{name}_days": seconds / 86_400 for name in branch.short_deadlines}
    deadlines = policy.deadlines.model_copy(update=short)
    return policy.model_copy(update={**branch.policy_changes, "deadlines": deadlines})
