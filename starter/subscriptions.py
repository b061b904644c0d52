"""Subscriptions to return events (outbound webhooks): which URLs may subscribe, and handing
queued deliveries to their EventDeliveryWorkflow (one per subscription and return).

Used by the record_event activity (deliveries of newly stored events) and by ReturnsClient
(redelivery an operator asks for).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections import defaultdict
from collections.abc import Iterable
from urllib.parse import urlsplit

from temporalio.client import Client

from activities.models import DeliveryRetry, QueuedDelivery
from integrations.settings import Settings
from starter.errors import InvalidReturnInput
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


async def checked_url(url: str, *, allow_private: bool) -> str:
    """The subscription URL, if it may be one: http(s), a host, and (unless allowed) no address
    that is private, loopback, link-local or otherwise not on the public internet."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidReturnInput("url", "an http(s) URL with a host is required")
    if parts.username or parts.password:
        raise InvalidReturnInput("url", "credentials in the URL are not allowed: sign-ins go in the receiver")
    if allow_private:
        return url
    try:
        addresses = {ipaddress.ip_address(parts.hostname)}
    except ValueError:  # a name: every address it resolves to must be public
        try:
            found = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443)
        except socket.gaierror as error:
            raise InvalidReturnInput("url", f"the host {parts.hostname} can't be resolved") from error
        addresses = {ipaddress.ip_address(info[4][0]) for info in found}
    private = sorted(str(address) for address in addresses if not address.is_global)
    if private:
        raise InvalidReturnInput("url", f"the URL reaches a private or loopback address ({', '.join(private)})")
    return url
