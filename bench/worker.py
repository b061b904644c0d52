"""A worker process for the benchmark: the production worker, or the same Worker around
the stub activities or the baseline workflow, with a sticky-cache size of its own.

    python -m bench.worker --kind real|stub|baseline --task-queue Q
        [--max-cached-workflows N] [--sandbox shared|strict|off]

Every kind takes its Worker options from workers.main.worker_options, so all of them run
with the production settings; only the workflows and activities (and the baseline's
default converter) differ, and the cache size and sandbox, which are settings
(`--max-cached-workflows`, `--sandbox`).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Literal, get_args

from temporalio.client import Client
from temporalio.worker import Worker

from bench import baseline, stubs
from integrations.log_config import configure_logging
from integrations.settings import Settings, get_settings
from integrations.shop import ShopPlatform
from integrations.temporal_client import connect
from workers.main import build_worker, worker_options
from workflows.return_workflow import ReturnWorkflow

WorkerKind = Literal["real", "stub", "baseline"]
# The workflow sandbox (workers/main.py): shared module cache for workflows/ (the default), strict
# (every run re-imports workflows/, as before the default changed), or off.
SandboxMode = Literal["shared", "strict", "off"]
_SANDBOX_SETTINGS: dict[str, dict[str, bool]] = {
    "shared": {"workflow_sandbox_strict": False},  # the stack's own processes run strict (tests)
    "strict": {"workflow_sandbox_strict": True},
    "off": {"workflow_sandbox": False},
}
WORKER_KINDS: tuple[WorkerKind, ...] = get_args(WorkerKind)
BASELINE = ([baseline.BaselineReturn], baseline.ACTIVITIES)
DEFAULT_MAX_CACHED_WORKFLOWS = Settings.model_fields["worker_max_cached_workflows"].default


async def connect_for(kind: WorkerKind, settings: Settings) -> Client:
    """The baseline speaks plain dicts on the default converter; the others pydantic."""
    if kind == "baseline":
        return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
    return await connect(settings)


def build(kind: WorkerKind, client: Client, settings: Settings) -> tuple[Worker, ShopPlatform | None]:
    """The production worker for `real`; the same options around other workflows or activities."""
    if kind == "real":
        return build_worker(client, settings)
    workflows, activities = ([ReturnWorkflow], stubs.ACTIVITIES) if kind == "stub" else BASELINE
    return Worker(client, workflows=workflows, activities=activities, **worker_options(settings)), None


async def serve(kind: WorkerKind, settings: Settings) -> None:
    worker, shop = build(kind, await connect_for(kind, settings), settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()
    if shop is not None:
        await shop.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=WORKER_KINDS, required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--max-cached-workflows", type=int, default=DEFAULT_MAX_CACHED_WORKFLOWS)
    parser.add_argument("--sandbox", choices=list(_SANDBOX_SETTINGS), default="shared", help="the workflow sandbox")
    args = parser.parse_args()
    changes = {"task_queue": args.task_queue, "worker_max_cached_workflows": args.max_cached_workflows}
    settings = get_settings().model_copy(update=changes | _SANDBOX_SETTINGS[args.sandbox])
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(serve(args.kind, settings))


if __name__ == "__main__":
    main()
