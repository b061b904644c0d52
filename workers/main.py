"""The returns worker: runs ReturnWorkflow and its activities on the `returns` task queue.

    returns-worker            # or: python -m workers.main

Configured from the environment (see integrations/settings.py); VENDOR_MODE says whether it talks to
the local sandboxes or to Stripe and Shippo, and it refuses to start on settings that contradict it.
On SIGTERM (or SIGINT) it stops polling and gives running activities WORKER_GRACEFUL_SHUTDOWN_SECONDS
to finish; what is still running then is cancelled and handed back to another worker.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import timedelta
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import defined_activities
from activities.deliveries import DeliveryActivities
from activities.events import EventActivities
from activities.labels import LabelActivities
from activities.mail import MailActivities
from activities.payments import PaymentActivities
from activities.shop import ShopActivities
from integrations import telemetry
from integrations.log_config import configure_logging
from integrations.settings import Settings, VendorModeError, get_settings, require_vendor_mode
from integrations.shippo_labels import ShippoLabels
from integrations.shop import ShopPlatform
from integrations.stripe_payments import StripePayments
from integrations.temporal_client import connect, payload_codec
from store.store import EventStore
from workers.health import WorkerState, health_app, serve_health
from workflows.event_delivery import EventDeliveryWorkflow
from workflows.return_workflow import ReturnWorkflow

log = structlog.get_logger(__name__)


def build_worker(
    client: Client, settings: Settings, metrics: telemetry.WorkerMetrics | None = None
) -> tuple[Worker, ShopPlatform]:
    shop = ShopPlatform(settings)
    # Every worker brings the store it writes to up to date before it takes work (a no-op once it
    # is: Alembic records the revision). Two first starts racing on an empty store: one fails to
    # start and its supervisor restarts it.
    store = EventStore.open(settings.event_store_url.get_secret_value(), migrate=True)
    activities = defined_activities(
        ShopActivities(shop),
        MailActivities(shop, settings),
        LabelActivities(ShippoLabels(settings)),
        PaymentActivities(StripePayments(settings)),
        EventActivities(store, settings),
        DeliveryActivities(store, allow_private_urls=settings.webhook_allow_private_urls),
    )
    interceptors = [metrics.interceptor()] if metrics is not None else []
    worker = Worker(
        client,
        workflows=[ReturnWorkflow, EventDeliveryWorkflow],
        activities=activities,
        interceptors=interceptors,
        **worker_options(settings),
    )
    return worker, shop


def worker_options(settings: Settings) -> dict[str, Any]:
    """How a returns worker polls, caches and runs workflows (the benchmark's workers use these too)."""
    runner: WorkflowRunner = UnsandboxedWorkflowRunner()
    if settings.workflow_sandbox and settings.workflow_sandbox_strict:
        runner = SandboxedWorkflowRunner()
    elif settings.workflow_sandbox:
        runner = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows"))
    return {
        "task_queue": settings.task_queue,
        "max_cached_workflows": settings.worker_max_cached_workflows,
        "workflow_runner": runner,
        "graceful_shutdown_timeout": timedelta(seconds=settings.worker_graceful_shutdown_seconds),
    }


async def run(settings: Settings) -> None:
    client = await connect(settings)
    metrics = telemetry.WorkerMetrics()
    worker, shop = build_worker(client, settings, metrics)
    state = WorkerState()
    health = None
    if settings.worker_health_port is not None:
        app = health_app(client, settings, state, metrics)
        health = await serve_health(app, settings.health_host, settings.worker_health_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    codec = payload_codec(settings)
    log.info(
        "worker started",
        task_queue=settings.task_queue,
        cached_returns=settings.worker_max_cached_workflows,
        sandbox=("strict" if settings.workflow_sandbox_strict else "shared") if settings.workflow_sandbox else "off",
        temporal=settings.temporal_address,
        vendor_mode=settings.vendor_mode,
        stripe=settings.stripe_base or "stripe",
        shippo=settings.shippo_base or "shippo",
        payloads=f"encrypted with key {codec.key_id}" if codec else "plaintext",
        graceful_shutdown_seconds=settings.worker_graceful_shutdown_seconds,
        health_port=settings.worker_health_port,
    )
    async with worker:
        state.polling = True
        await stop.wait()
        state.polling = False
        log.info("worker stopping: running activities get the graceful shutdown timeout to finish")
    log.info("worker stopped")
    await shop.aclose()
    if health is not None:
        server, task = health
        server.should_exit = True
        await task
    telemetry.stop_tracing()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()  # no options: settings come from the environment (integrations/settings.py)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        require_vendor_mode(settings, "returns-worker")
    except VendorModeError as error:
        sys.exit(str(error))
    telemetry.start_tracing(settings, "returns-worker")
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
