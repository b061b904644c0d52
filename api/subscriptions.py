"""The operator's routes for subscriptions to return events (outbound webhooks), under /v1."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from api.auth import Operator
from api.errors import documented
from api.routes import Returns, document_roles, plain_text
from store.events import EventType
from store.webhooks import Attempt, Delivery, Outcome, Subscription, SubscriptionState

router = APIRouter(
    prefix="/v1/event-subscriptions",
    tags=["operator"],
    dependencies=[Depends(plain_text)],
    responses=documented(400, 401, 403, 413, 422, 503),
)
SubscriptionId = Annotated[str, Path(pattern=r"^sub_[0-9a-f]{24}$", description="the subscription's id")]


class SubscriptionRequest(BaseModel):
    url: str = Field(max_length=2048, description="where events are POSTed (http or https)")
    event_types: list[EventType] = Field(default=[], max_length=len(EventType), description="none: every type")
    description: str | None = Field(default=None, max_length=200)


class SubscriptionView(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str | None
    state: SubscriptionState
    disabled_reason: str | None = Field(description="why it was disabled, e.g. a delivery failing for days")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, subscription: Subscription) -> SubscriptionView:
        return cls.model_validate(subscription, from_attributes=True)


class CreatedSubscriptionView(BaseModel):
    subscription: SubscriptionView
    secret: str = Field(description="the signing secret: shown this once, keep it")


class SecretView(BaseModel):
    secret: str = Field(description="the new signing secret: shown this once; the previous one signs for a day more")


class AttemptView(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    latency_ms: int | None
    error: str | None


class DeliveryView(BaseModel):
    id: int
    event_id: str
    event_type: str
    return_id: str
    sequence: int
    outcome: Outcome
    attempts: list[AttemptView]
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: Delivery, attempts: list[Attempt]) -> DeliveryView:
        fields = {name: getattr(delivery, name) for name in cls.model_fields if name != "attempts"}
        return cls(**fields, attempts=[AttemptView.model_validate(a, from_attributes=True) for a in attempts])


class SubscriptionChange(BaseModel):
    """Turns deliveries off (with a reason the operator will read) or on again."""

    state: SubscriptionState
    reason: str | None = Field(default=None, min_length=1, max_length=500, description="why it is disabled")


class RedeliveryRequest(BaseModel):
    """Which deliveries to send again: one event, every event of a return, or those queued in a time range."""

    event_id: str | None = Field(default=None, max_length=100)
    return_id: str | None = Field(default=None, max_length=64)
    since: datetime | None = None
    until: datetime | None = None


class Redelivered(BaseModel):
    queued: int = Field(description="deliveries queued again")


@router.post("", status_code=201)
async def create_subscription(body: SubscriptionRequest, caller: Operator, returns: Returns) -> CreatedSubscriptionView:
    """Subscribes a URL to return events; the answer carries its signing secret, this once."""
    created = await returns.create_subscription(body.url, [kind.value for kind in body.event_types], body.description)
    return CreatedSubscriptionView(subscription=SubscriptionView.of(created.subscription), secret=created.secret)


@router.get("")
async def list_subscriptions(caller: Operator, returns: Returns) -> list[SubscriptionView]:
    return [SubscriptionView.of(subscription) for subscription in await returns.subscriptions()]


@router.get("/{subscription_id}", responses=documented(404))
async def get_subscription(subscription_id: SubscriptionId, caller: Operator, returns: Returns) -> SubscriptionView:
    return SubscriptionView.of(await returns.subscription(subscription_id))


@router.patch("/{subscription_id}", responses=documented(404))
async def change_subscription(
    subscription_id: SubscriptionId, body: SubscriptionChange, caller: Operator, returns: Returns
) -> SubscriptionView:
    """Disables or enables the subscription. Enabled again, it gets new events; what failed while it
    was off is sent with a redelivery (a return's or a time range's)."""
    if body.state is SubscriptionState.enabled:
        changed = await returns.enable_subscription(subscription_id)
    else:
        changed = await returns.disable_subscription(
            subscription_id, body.reason or f"disabled by {caller.actor(None)}"
        )
    return SubscriptionView.of(changed)


@router.post("/{subscription_id}/secret-rotations", status_code=201, responses=documented(404))
async def rotate_secret(subscription_id: SubscriptionId, caller: Operator, returns: Returns) -> SecretView:
    """A new signing secret; during the next day both sign each delivery (one `v1=` each)."""
    return SecretView(secret=await returns.rotate_subscription_secret(subscription_id))


@router.get("/{subscription_id}/deliveries", responses=documented(404))
async def delivery_log(
    subscription_id: SubscriptionId,
    caller: Operator,
    returns: Returns,
    outcome: Outcome | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryView]:
    """The subscription's deliveries, newest first, with every attempt (status, latency, error)."""
    logged = await returns.delivery_log(subscription_id, outcome=outcome, limit=limit)
    return [DeliveryView.of(delivery, attempts) for delivery, attempts in logged]


@router.post("/{subscription_id}/redeliveries", status_code=202, responses=documented(404))
async def redeliver(
    subscription_id: SubscriptionId, body: RedeliveryRequest, caller: Operator, returns: Returns
) -> Redelivered:
    """Sends deliveries again (each return's in sequence order)."""
    queued = await returns.redeliver(
        subscription_id, event_id=body.event_id, return_id=body.return_id, since=body.since, until=body.until
    )
    return Redelivered(queued=queued)


document_roles(router.routes)
