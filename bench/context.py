"""What every phase shares: the stack, the clients, and the worker lanes started on demand."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client

from bench.config import BenchConfig
from bench.driver import closed_loop, journey, prepare_all
from bench.flavors import HAPPY_PATH, BaselineFlavor, Flavor, ReturnFlavor
from bench.stack import BenchStack
from bench.worker import DEFAULT_MAX_CACHED_WORKFLOWS, SandboxMode, WorkerKind
from integrations.temporal_client import connect
from starter.client import ReturnsClient
from starter.policy import load_return_policy
from workflows.policy import ReturnPolicy


@dataclass(frozen=True)
class LaneSpec:
    kind: WorkerKind
    workers: int = 1  # processes on the lane's task queue
    sandbox: SandboxMode = "shared"  # the worker's default; "strict" as before it, "off" an experiment
    door: bool = True  # real returns through ReturnsClient; False: started and signalled directly


# Variants by name. Latency and history reuse the workers of `baseline` and `real`.
LANES: dict[str, LaneSpec] = {
    "baseline": LaneSpec("baseline"),
    "stub": LaneSpec("stub"),
    "real": LaneSpec("real"),
    "real x2": LaneSpec("real", workers=2),
    "baseline unsandboxed": LaneSpec("baseline", sandbox="off"),
    "stub unsandboxed": LaneSpec("stub", sandbox="off"),
    "real unsandboxed": LaneSpec("real", sandbox="off"),
    "real strict": LaneSpec("real", sandbox="strict"),
    "real raw": LaneSpec("real", door=False),
}


@dataclass
class Lane:
    name: str  # the variant
    key: str  # unique in the run: names its task queue and its returns
    task_queue: str
    flavor: Flavor
    processes: list[subprocess.Popen]


@dataclass
class Bench:
    stack: BenchStack
    config: BenchConfig
    temporal: Client  # pydantic converter, like every process of the system
    plain: Client  # default converter, for the baseline
    policy: ReturnPolicy
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    _lanes: dict[str, asyncio.Task[Lane]] = field(default_factory=dict)

    @classmethod
    async def connect(cls, stack: BenchStack, config: BenchConfig) -> Bench:
        settings = stack.settings
        plain = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
        return cls(stack, config, await connect(settings), plain, load_return_policy(settings.return_policy_file))

    def return_ids(self, label: str, count: int) -> list[str]:
        return [f"B{self.run_id}-{label}-{n}" for n in range(count)]

    def flavor(
        self,
        kind: WorkerKind,
        task_queue: str,
        *,
        name: str | None = None,
        policy: ReturnPolicy | None = None,
        request_changes: Mapping[str, Any] | None = None,
        door: bool = True,
    ) -> Flavor:
        if kind == "baseline":
            return BaselineFlavor(name or kind, self.plain, task_queue)
        settings = self.stack.settings.model_copy(update={"task_queue": task_queue})
        client = ReturnsClient(self.temporal, settings, policy=policy or self.policy)
        return ReturnFlavor(name or kind, client, door=door, request_changes=request_changes or {})

    def spawn(self, name: str, *, max_cached: int = DEFAULT_MAX_CACHED_WORKFLOWS, queue: str | None = None) -> Lane:
        """The worker processes of variant `name` on a task queue of their own."""
        spec, key = LANES[name], slug(queue or name)
        task_queue = f"bench-{self.run_id}-{key}"
        processes = self.stack.spawn_workers(spec.kind, task_queue, spec.workers, max_cached, spec.sandbox)
        flavor = self.flavor(spec.kind, task_queue, name=name, door=spec.door)
        return Lane(name, key, task_queue, flavor, processes)

    async def lane(self, name: str) -> Lane:
        """The workers of a variant, started and warmed up at first use (once, however many
        callers ask at the same time)."""
        if name not in self._lanes:
            self._lanes[name] = asyncio.create_task(self._warm_lane(name))
        return await self._lanes[name]

    async def lanes(self, names: Sequence[str]) -> list[Lane]:
        """Several lanes, started side by side (worker start-up is mostly imports)."""
        return list(await asyncio.gather(*(self.lane(name) for name in names)))

    async def _warm_lane(self, name: str) -> Lane:
        lane = self.spawn(name)
        await self.warm_up(lane.flavor, lane.key, self.config.warmup * len(lane.processes))
        return lane

    async def warm_up(self, flavor: Flavor, key: str, count: int) -> None:
        """Whole journeys before anything is timed: imports, connections, first-use caches."""
        prepared = await prepare_all(flavor, self.return_ids(f"{key}-warm", count))
        await closed_loop(prepared, count, lambda p: journey(flavor, p, HAPPY_PATH))

    async def settle(self) -> None:
        """Lets the worker finish what a burst left behind before its memory is read."""
        await asyncio.sleep(self.config.settle_seconds)


def slug(name: str) -> str:
    return name.replace(" ", "-")
