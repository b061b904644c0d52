"""The vendors' webhooks, authenticated by the vendors' own secrets, not API keys."""

from __future__ import annotations

import json
from typing import Annotated

import structlog
from fastapi import APIRouter, Header, Query, Request
from pydantic import SecretStr, ValidationError

from api.errors import BodyNotJson, documented
from api.routes import Returns
from integrations.errors import WebhookSignatureError
from integrations.settings import Settings
from integrations.shippo_webhooks import SIGNATURE_HEADER as SHIPPO_SIGNATURE_HEADER
from integrations.shippo_webhooks import parse_track_updated, verify_shippo_request
from integrations.stripe_webhooks import SIGNATURE_HEADER as STRIPE_SIGNATURE_HEADER
from integrations.stripe_webhooks import verify_and_parse
from starter.client import DeliveryOutcome, EventDelivery
from starter.errors import InvalidReturnInput

log = structlog.get_logger(__name__)

_RAW_JSON_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}}
webhooks = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=documented(400, 413, 422, 503))


@webhooks.post("/shippo", openapi_extra=_RAW_JSON_BODY)
async def shippo_webhook(
    request: Request,
    returns: Returns,
    token: Annotated[
        str | None,
        Query(
            max_length=256,
            description="a secret token in the URL given to Shippo (with the signature, or alone"
            " where SHIPPO_WEBHOOK_ALLOW_TOKEN_ONLY allows it)",
        ),
    ] = None,
    signature: Annotated[str | None, Header(alias=SHIPPO_SIGNATURE_HEADER, max_length=1024)] = None,
) -> EventDelivery:
    """Shippo `track_updated`, signed in `Shippo-Auth-Signature`: the scan goes to its return (label
    metadata, else tracking number), if its tracking number is that return's label's.

    Answers 200 for parcels and events that are not ours, and for test events on a live system,
    so Shippo does not retry them; redeliveries carry the same event id and the return counts them once.
    """
    settings: Settings = request.app.state.settings
    body = await request.body()
    verify_shippo_request(
        token,
        _revealed(settings.shippo_webhook_token),
        signature,
        body,
        _revealed(settings.shippo_webhook_hmac_secret),
        allow_token_only=settings.shippo_webhook_allow_token_only,
    )
    _ensure_json(body)
    try:
        update = parse_track_updated(body)
    except ValidationError as error:
        raise InvalidReturnInput("body", f"not a Shippo webhook body: {_first_problem(error)}") from error
    delivery = EventDelivery(outcome=DeliveryOutcome.ignored)
    if update is not None:
        delivery = await returns.deliver_track_update(update)
    log.info("shippo webhook", return_id=delivery.return_id, outcome=delivery.outcome.value)
    return delivery


@webhooks.post("/stripe", openapi_extra=_RAW_JSON_BODY)
async def stripe_webhook(
    request: Request,
    returns: Returns,
    signature: Annotated[str | None, Header(alias=STRIPE_SIGNATURE_HEADER, max_length=2048)] = None,
) -> EventDelivery:
    """Stripe refund events (`refund.updated`, `refund.failed`, `charge.refund.updated`, ...) become
    payment updates on the return named in the refund's metadata, if the refund is that return's own."""
    secret = _revealed(request.app.state.settings.stripe_webhook_secret)
    if secret is None:
        raise WebhookSignatureError("no Stripe webhook signing secret is configured")
    body = await request.body()
    try:
        event = verify_and_parse(body, signature, secret)
    except ValueError as error:  # signed, but not an event Stripe's library can read
        _ensure_json(body)
        raise InvalidReturnInput("body", f"not a Stripe refund event: {error}") from error
    delivery = EventDelivery(outcome=DeliveryOutcome.ignored)
    if event is not None:
        delivery = await returns.deliver_refund_event(event)
    log.info("stripe webhook", return_id=delivery.return_id, outcome=delivery.outcome.value)
    return delivery


def _ensure_json(body: bytes) -> None:
    try:
        json.loads(body)
    except json.JSONDecodeError as error:
        raise BodyNotJson(f"{error.msg} at character {error.pos}") from error
    except (ValueError, RecursionError) as error:  # not UTF-8, or nested deeper than Python reads
        raise BodyNotJson("it can't be parsed (not UTF-8, or nested too deeply)") from error


def _first_problem(error: ValidationError) -> str:
    """The first field pydantic refused, in a sentence (its own text links to its docs)."""
    problem = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in problem["loc"]) or "body"
    return f"{where}: {problem['msg']}"


def _revealed(secret: SecretStr | None) -> str | None:
    """The secret's value; None for none or an empty one (an empty HMAC key is no secret)."""
    return (secret.get_secret_value() or None) if secret else None
