"""The returns worker: runs ReturnWorkflow and its activities on the `returns` task queue.

    returns-worker            # or: python -m workers.main

Configured from the environment (see integrations/settings.py); without vendor keys it
talks to the local sandboxes.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities import defined_activities
from activities.labels import LabelActivities
from activities.payments import PaymentActivities
from activities.shop import ShopActivities
from integrations.log_config import configure_logging
from integrations.settings import Settings, get_settings
from integrations.shippo_labels import ShippoLabels
from integrations.shop import ShopPlatform
from integrations.stripe_payments import StripePayments
from integrations.temporal_client import connect
from workflows.return_workflow import ReturnWorkflow

log = structlog.get_logger(__name__)


def build_worker(client: Client, settings: Settings) -> tuple[Worker, ShopPlatform]:
    shop = ShopPlatform(settings)
    activities = defined_activities(
        ShopActivities(shop), LabelActivities(ShippoLabels(settings)), PaymentActivities(StripePayments(settings))
    )
    worker = Worker(client, workflows=[ReturnWorkflow], activities=activities, **worker_options(settings))
    return worker, shop


def worker_options(settings: Settings) -> dict[str, Any]:
    """How a returns worker polls, caches and runs workflows (the benchmark's workers use these too)."""
    runner: WorkflowRunner = SandboxedWorkflowRunner() if settings.workflow_sandbox else UnsandboxedWorkflowRunner()
    return {
        "task_queue": settings.task_queue,
        "max_cached_workflows": settings.worker_max_cached_workflows,
        "workflow_runner": runner,
    }


async def run(settings: Settings) -> None:
    client = await connect(settings)
    worker, shop = build_worker(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "worker started",
        task_queue=settings.task_queue,
        cached_returns=settings.worker_max_cached_workflows,
        sandbox=settings.workflow_sandbox,
        temporal=settings.temporal_address,
        stripe=settings.stripe_base or "stripe",
        shippo=settings.shippo_base or "shippo",
    )
    async with worker:
        await stop.wait()
        log.info("worker stopping: finishing running activities")
    await shop.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()  # no options: settings come from the environment (integrations/settings.py)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
