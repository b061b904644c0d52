"""What every activity does around its vendor call: heartbeat, a log bound to the return, and
the integration's classified failure turned into an error the workflow and operators read."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from integrations.errors import IntegrationError
from workflows.contract import return_id_of

log = structlog.get_logger(__name__)


@contextlib.asynccontextmanager
async def vendor_call() -> AsyncIterator[structlog.stdlib.BoundLogger]:
    """Heartbeats, binds the log to the return and classifies the integration's failure.

    The return comes from the workflow id, so every activity logs it, even those whose input
    names only an order or a refund. Permanent failures are non-retryable, so a bad request
    never becomes a retry storm.
    """
    info = activity.info()
    logger = log.bind(return_id=return_id_of(info.workflow_id), activity=info.activity_type, attempt=info.attempt)
    heartbeat = asyncio.create_task(_beat_while_running(info.heartbeat_timeout))
    try:
        yield logger
    except IntegrationError as error:
        logger.warning("vendor call failed", error_code=error.code, retryable=error.retryable, status=error.status)
        raise ApplicationError(
            error.message,
            {"vendor": error.vendor, "status": error.status},
            type=error.code,
            non_retryable=not error.retryable,
        ) from error
    finally:
        heartbeat.cancel()


async def _beat_while_running(timeout: timedelta | None) -> None:
    """Tells the server this worker is alive, three times per heartbeat timeout the workflow set,
    so a crashed worker's attempt is retried after that timeout, not after the whole step's."""
    if not timeout:
        return
    while True:
        activity.heartbeat()
        await asyncio.sleep(timeout.total_seconds() / 3)
