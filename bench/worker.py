"""A worker process for the benchmark: the production worker, or the same Worker around
the stub activities or the baseline workflow, with a sticky-cache size of its own.

    python -m bench.worker --kind real|stub|baseline --task-queue Q [--max-cached-workflows N] [--unsandboxed]

Every kind takes its Worker options from workers.main.build_worker, so all of them run
with the production settings; only what a kind replaces (workflows, activities, and the
baseline's default converter) and the cache size differ. `--unsandboxed` is an
experiment: the same worker without the workflow sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any, Literal, get_args
from unittest import mock

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

import workers.main
from bench import baseline, stubs
from integrations.log_config import configure_logging
from integrations.settings import Settings, get_settings
from integrations.shop import ShopPlatform
from integrations.temporal_client import connect

WorkerKind = Literal["real", "stub", "baseline"]
WORKER_KINDS: tuple[WorkerKind, ...] = get_args(WorkerKind)
DEFAULT_MAX_CACHED_WORKFLOWS = 1000  # temporalio's default, which production runs with


def production_options(client: Client, settings: Settings) -> tuple[dict[str, Any], ShopPlatform]:
    """The keyword arguments build_worker gives Worker, captured instead of used.

    build_worker has no cache-size setting; capturing its options lets the benchmark add
    one without copying the production wiring (a Worker can't be built twice on a queue).
    """
    captured: dict[str, Any] = {}

    def capture(client: Client, **options: Any) -> None:
        captured.update(client=client, **options)

    with mock.patch.object(workers.main, "Worker", capture):
        _, shop = workers.main.build_worker(client, settings)
    return captured, shop


async def connect_for(kind: WorkerKind, settings: Settings) -> Client:
    """The baseline speaks plain dicts on the default converter; the others pydantic."""
    if kind == "baseline":
        return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    return await connect(settings)


def _replaced(kind: WorkerKind) -> dict[str, Any]:
    if kind == "stub":
        return {"activities": stubs.ACTIVITIES}
    if kind == "baseline":
        return {"workflows": [baseline.BaselineReturn], "activities": baseline.ACTIVITIES}
    return {}


async def serve(kind: WorkerKind, settings: Settings, max_cached_workflows: int, unsandboxed: bool) -> None:
    options, shop = production_options(await connect_for(kind, settings), settings)
    options.update(_replaced(kind), max_cached_workflows=max_cached_workflows)
    if unsandboxed:
        options["workflow_runner"] = UnsandboxedWorkflowRunner()
    worker = Worker(**options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()
    await shop.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=WORKER_KINDS, required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--max-cached-workflows", type=int, default=DEFAULT_MAX_CACHED_WORKFLOWS)
    parser.add_argument("--unsandboxed", action="store_true", help="run workflows without the sandbox (experiment)")
    args = parser.parse_args()
    settings = get_settings().model_copy(update={"task_queue": args.task_queue})
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(serve(args.kind, settings, args.max_cached_workflows, args.unsandboxed))


if __name__ == "__main__":
    main()
