"""What readiness means, for the API (`/v1/readyz`) and the worker (`/readyz`): Temporal answers within a
short timeout, and (for the API, whose requests need a worker) the task queue has workflow and activity
pollers. Each check names what failed, never an address, a key or a stack trace.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

# A worker's pollers hold a long poll open for about a minute when there is no work; a poller last seen
# longer ago than this is a worker that went away (the server keeps listing it for a few minutes).
POLLER_SEEN_WITHIN = timedelta(seconds=90)
QUEUE_KINDS = {"workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY}


@dataclass
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)  # name -> "ok" or what is wrong

    @property
    def ready(self) -> bool:
        return all(value == "ok" for value in self.checks.values())


async def temporal_answers(client: Client, timeout: float) -> str:
    try:
        healthy = await asyncio.wait_for(
            client.service_client.check_health(timeout=timedelta(seconds=timeout)), timeout
        )
    except Exception:  # unreachable, refused, timed out: the reason is in the process's own log
        return "unreachable"
    return "ok" if healthy else "not serving"


async def task_queue_pollers(client: Client, task_queue: str, timeout: float) -> dict[str, str]:
    """For each kind of task (workflow, activity): "ok" when a worker polled the queue recently."""

    async def kind(queue_type: TaskQueueType.ValueType) -> str:
        request = DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=queue_type
        )
        try:
            described = await client.workflow_service.describe_task_queue(request, timeout=timedelta(seconds=timeout))
        except Exception:
            return "unreachable"
        now = datetime.now(UTC)
        recent = [p for p in described.pollers if now - p.last_access_time.ToDatetime(UTC) <= POLLER_SEEN_WITHIN]
        return "ok" if recent else "no worker polling"

    results = await asyncio.gather(*(kind(queue_type) for queue_type in QUEUE_KINDS.values()))
    return {f"{name}_pollers": result for name, result in zip(QUEUE_KINDS, results, strict=True)}


async def api_readiness(client: Client, task_queue: str, timeout: float) -> Readiness:
    readiness = Readiness({"temporal": await temporal_answers(client, timeout)})
    if readiness.ready:
        readiness.checks.update(await task_queue_pollers(client, task_queue, timeout))
    return readiness
