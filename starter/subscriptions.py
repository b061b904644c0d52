"""Subscriptions to return events (outbound webhooks): handing queued deliveries to their
EventDeliveryWorkflow (one per subscription and return).

Used by the record_event activity (deliveries of newly stored events) and by ReturnsClient
(redelivery an operator asks for).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from temporalio.client import Client

from activities.models import DeliveryRetry, QueuedDelivery
from integrations.settings import Settings
from store.webhooks import Delivery
from workflows.event_delivery import DeliveryStart, EventDeliveryWorkflow, delivery_workflow_id


def delivery_retry(settings: Settings) -> DeliveryRetry:
    return DeliveryRetry(
        initial_seconds=settings.webhook_retry_initial_seconds,
        max_seconds=settings.webhook_retry_max_seconds,
        give_up_after_seconds=settings.webhook_give_up_after_hours * 3600,
    )


async def send_deliveries(client: Client, settings: Settings, deliveries: Iterable[Delivery]) -> None:
    """Queues each delivery with its subscription's and return's workflow (started if it isn't
    running). Queuing one again is harmless: a delivery already delivered is not sent twice."""
    grouped: dict[tuple[str, str], list[QueuedDelivery]] = defaultdict(list)
    for delivery in deliveries:
        queued = QueuedDelivery(delivery_id=delivery.id, sequence=delivery.sequence)
        grouped[(delivery.subscription_id, delivery.return_id)].append(queued)
    for (subscription_id, return_id), queued in grouped.items():
        await client.start_workflow(
            EventDeliveryWorkflow.run,
            DeliveryStart(subscription_id=subscription_id, return_id=return_id, retry=delivery_retry(settings)),
            id=delivery_workflow_id(subscription_id, return_id),
            task_queue=settings.task_queue,
            start_signal="deliver",
            start_signal_args=[queued],
        )
