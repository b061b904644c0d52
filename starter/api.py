"""The HTTP API: storefront, warehouse and operator doors and the vendors' webhooks, under /v1.

    returns-api                    # serves on API_HOST:API_PORT (default 127.0.0.1:8000)
    returns-api --print-openapi    # the OpenAPI document, committed as docs/openapi.json

Handlers are thin: FastAPI checks the caller's API key and role and validates the body
against the contract's models, the handler names the actor (`<role>:<name>`, from the
body or the `X-Actor` header) and calls ReturnsClient, whose errors become statuses in
one place (`_install_error_handlers`). A request refused for any reason (401, 403, 413,
422, 404, 409) has started or signalled nothing. Secrets never reach a log line: keys
are only compared, and request lines are logged without their query string (Shippo's
webhook token travels there).
"""

from __future__ import annotations

import argparse
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

import structlog
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field, SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.service import RPCError, RPCStatusCode

from integrations.errors import IntegrationError
from integrations.log_config import configure_logging
from integrations.settings import Settings, get_settings
from integrations.shippo_webhooks import SIGNATURE_HEADER as SHIPPO_SIGNATURE_HEADER
from integrations.shippo_webhooks import parse_track_updated, verify_shippo_request
from integrations.stripe_webhooks import SIGNATURE_HEADER as STRIPE_SIGNATURE_HEADER
from integrations.stripe_webhooks import WebhookSignatureError, verify_and_parse
from starter.client import (
    ActorName,
    DeliveryOutcome,
    DispositionConfirmation,
    Eligibility,
    EventDelivery,
    ReturnsClient,
    actor_id,
)
from starter.errors import (
    InvalidReturnInput,
    ReturnConflictError,
    ReturnNotFoundError,
    ReturnStateError,
    ReturnUnavailableError,
)
from starter.visibility import ReturnFilter, ReturnPage
from workflows.models import (
    Cancellation,
    DeadlineExtension,
    DispositionOverride,
    Identifier,
    InspectionReport,
    OperatorAction,
    ParcelReceipt,
    ReturnRequest,
    ReturnStatus,
    Stage,
    TimelineEntry,
)

log = structlog.get_logger(__name__)

API_KEY_HEADER = "X-API-Key"
ACTOR_HEADER = "X-Actor"
M = TypeVar("M", bound=BaseModel)


# --- Roles ---------------------------------------------------------------------------------


class Role(StrEnum):
    storefront = "storefront"
    warehouse = "warehouse"
    operator = "operator"


_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="the API key of one role")


def _role_of(key: str | None, settings: Settings) -> Role | None:
    if not key:
        return None
    matched = None
    for role in Role:
        expected: SecretStr | None = getattr(settings, f"api_key_{role.value}")
        # Compared against every configured key, in constant time: timing tells nothing.
        if expected is not None and hmac.compare_digest(key.encode(), expected.get_secret_value().encode()):
            matched = role
    return matched


class Admit:
    """A dependency that admits callers whose API key belongs to one of `roles`; answers the role."""

    def __init__(self, *roles: Role):
        self.roles = roles

    async def __call__(self, request: Request, key: Annotated[str | None, Security(_api_key)]) -> Role:
        role = _role_of(key, request.app.state.settings)
        if role is None:
            raise HTTPException(401, f"missing or unknown {API_KEY_HEADER}")
        if role not in self.roles:
            raise HTTPException(403, f"the {role.value} role may not do this")
        return role


AnyRole = Annotated[Role, Depends(Admit(*Role))]
ShopOrOperator = Annotated[Role, Depends(Admit(Role.storefront, Role.operator))]
Storefront = Annotated[Role, Depends(Admit(Role.storefront))]
Warehouse = Annotated[Role, Depends(Admit(Role.warehouse))]
Operator = Annotated[Role, Depends(Admit(Role.operator))]

ActorHeader = Annotated[ActorName | None, Header(alias=ACTOR_HEADER, description="who acts, when the body doesn't say")]
ReturnId = Annotated[Identifier, Path(description="the shop's return id")]


def _returns(request: Request) -> ReturnsClient:
    return request.app.state.returns


Returns = Annotated[ReturnsClient, Depends(_returns)]


def _actor(role: Role, named_in_body: str | None, header: str | None) -> str:
    name = named_in_body or header
    if name is None:
        raise InvalidReturnInput("actor", f"say who acts: in the body or the {ACTOR_HEADER} header")
    return actor_id(role.value, name)


def _as(contract: type[M], body: BaseModel, **fields: object) -> M:
    """The contract's model built from a request body, with the fields the API fills in."""
    return contract.model_validate(body.model_dump() | fields)


# --- Request bodies: the contract's models, with the actor optional (the header may name it) -------

_ACTOR_FIELD = Field(default=None, description=f"who acts; or the {ACTOR_HEADER} header")


class ActionBody(OperatorAction):
    actor: ActorName | None = _ACTOR_FIELD


class DispositionOverrideBody(DispositionOverride):
    actor: ActorName | None = _ACTOR_FIELD


class DeadlineExtensionBody(DeadlineExtension):
    actor: ActorName | None = _ACTOR_FIELD


class ReceiptBody(ParcelReceipt):
    received_by: ActorName | None = _ACTOR_FIELD


class InspectionBody(InspectionReport):
    inspector: ActorName | None = _ACTOR_FIELD


class DispositionConfirmationBody(BaseModel, extra="forbid"):
    line_id: Identifier
    confirmed_by: ActorName | None = _ACTOR_FIELD


class ListQuery(ReturnFilter):
    page_size: int = Field(default=50, ge=1, le=200)
    page_token: str | None = Field(default=None, max_length=4096)


class Accepted(BaseModel):
    """The event was handed to the return; its status shows the effect shortly after."""

    return_id: str
    event: Literal["parcel_received", "inspection_recorded"]


class Health(BaseModel):
    status: Literal["ok"]


# --- Errors ----------------------------------------------------------------------------------


class FieldProblem(BaseModel):
    location: str | None = Field(default=None, description="body, query, path or header, when known")
    field: str
    message: str


class ApiError(BaseModel):
    error: str = Field(description="a stable code, e.g. invalid_request, not_found, invalid_state")
    message: str
    return_id: str | None = None
    stage: Stage | None = Field(default=None, description="the return's current stage (invalid_state)")
    fields: list[FieldProblem] = []


_CODES = {
    400: "bad_request",  # a body that is not even JSON
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_request",
    502: "upstream_error",
    503: "unavailable",
}


def _error(status: int, message: str, code: str | None = None, **details: Any) -> JSONResponse:
    body = ApiError(error=code or _CODES.get(status, "error"), message=message, **details)
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=status)


def _documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ApiError, "description": _CODES[status]} for status in statuses}


# FAILED_PRECONDITION: the return's worker can't run its code right now, so it can't answer a query.
_TRY_AGAIN = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.FAILED_PRECONDITION})


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            FieldProblem(
                location=str(problem["loc"][0]) if problem["loc"] else None,
                field=".".join(str(part) for part in problem["loc"][1:]),
                message=problem["msg"],
            )
            for problem in error.errors()
        ]
        return _error(422, "the request is not valid", fields=problems)

    @app.exception_handler(InvalidReturnInput)
    async def invalid_input(_: Request, error: InvalidReturnInput) -> JSONResponse:
        problem = FieldProblem(field=error.field, message=error.message)
        return _error(422, str(error), fields=[problem])

    @app.exception_handler(ReturnNotFoundError)
    async def not_found(_: Request, error: ReturnNotFoundError) -> JSONResponse:
        return _error(404, str(error), return_id=error.return_id)

    @app.exception_handler(ReturnConflictError)
    async def conflict(_: Request, error: ReturnConflictError) -> JSONResponse:
        return _error(409, str(error), return_id=error.return_id)

    @app.exception_handler(ReturnStateError)
    async def invalid_state(_: Request, error: ReturnStateError) -> JSONResponse:
        return _error(409, error.reason, "invalid_state", return_id=error.return_id, stage=error.stage)

    @app.exception_handler(WebhookSignatureError)
    async def bad_signature(_: Request, error: WebhookSignatureError) -> JSONResponse:
        log.warning("webhook rejected", reason=str(error))
        return _error(400, str(error), "invalid_signature")

    @app.exception_handler(IntegrationError)
    async def shop_failed(_: Request, error: IntegrationError) -> JSONResponse:
        log.warning("shop platform call failed", error_code=error.code, status=error.status)
        return _error(503 if error.retryable else 502, f"the shop platform answered: {error.code}")

    @app.exception_handler(RPCError)
    async def temporal_failed(_: Request, error: RPCError) -> JSONResponse:
        if error.status in _TRY_AGAIN:
            log.warning("temporal unavailable", status=error.status.name, message=error.message)
            return _error(503, "the return can't be reached right now; try again")
        log.error("temporal call failed", status=error.status.name, message=error.message)
        return _error(500, "internal error")

    @app.exception_handler(ReturnUnavailableError)
    async def return_unreachable(_: Request, error: ReturnUnavailableError) -> JSONResponse:
        log.warning("temporal or the return's worker did not answer in time", return_id=error.return_id)
        return _error(503, "the return can't be reached right now; try again")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail))


# --- Middleware ---------------------------------------------------------------------------------


class BodySizeLimit:
    """Refuses bodies over `max_bytes` with 413: early by Content-Length, else while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await _error(413, self._message)(scope, receive, send)
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, self._message)  # the handler has not acted yet: it reads first
            return message

        await self.app(scope, limited, send)

    @property
    def _message(self) -> str:
        return f"request bodies are limited to {self.max_bytes} bytes"


class RequestLog:
    """One structured line per request: method, path (never the query: tokens travel there), status, time."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            log.info("request", method=scope["method"], path=scope["path"], status=status, duration_ms=duration_ms)


# --- Routes ------------------------------------------------------------------------------------

router = APIRouter(prefix="/v1", responses=_documented(400, 401, 403, 413, 422))


@router.post("/eligibility", tags=["storefront"], responses=_documented(502, 503))
async def check_eligibility(request: ReturnRequest, _: ShopOrOperator, returns: Returns) -> Eligibility:
    """What starting this request would decide about each line now. Starts nothing."""
    return await returns.check_eligibility(request)


@router.post(
    "/returns",
    tags=["storefront"],
    status_code=201,
    responses={
        200: {"model": ReturnStatus, "description": "the same request was sent before: that return"},
        **_documented(409),
    },
)
async def start_return(request: ReturnRequest, _: Storefront, returns: Returns, response: Response) -> ReturnStatus:
    """Starts a return; idempotent on `return_id` (a different body under the same id is a 409)."""
    started = await returns.start(request)
    response.headers["Location"] = f"/v1/returns/{request.return_id}"
    if not started.created:
        response.status_code = 200
    log.info("return started" if started.created else "return start repeated", return_id=request.return_id)
    return await returns.status(request.return_id)


@router.get("/returns", tags=["storefront", "warehouse", "operator"])
async def list_returns(query: Annotated[ListQuery, Query()], _: AnyRole, returns: Returns) -> ReturnPage:
    """Returns matching every given filter (Temporal visibility), newest first, one page at a time."""
    return await returns.list_returns(query, page_size=query.page_size, page_token=query.page_token)


@router.get("/returns/{return_id}", tags=["storefront", "warehouse", "operator"], responses=_documented(404))
async def get_status(return_id: ReturnId, _: AnyRole, returns: Returns) -> ReturnStatus:
    return await returns.status(return_id)


@router.get("/returns/{return_id}/timeline", tags=["storefront", "warehouse", "operator"], responses=_documented(404))
async def get_timeline(return_id: ReturnId, _: AnyRole, returns: Returns) -> list[TimelineEntry]:
    return await returns.timeline(return_id)


@router.post("/returns/{return_id}/cancel", tags=["storefront", "operator"], responses=_documented(404, 409))
async def cancel(
    return_id: ReturnId, body: ActionBody, role: ShopOrOperator, returns: Returns, actor: ActorHeader = None
) -> ReturnStatus:
    """Cancels and compensates. With a storefront key the shopper cancels (only before the parcel ships)."""
    requested_by = "shopper" if role is Role.storefront else "operator"
    cancellation = _as(Cancellation, body, actor=_actor(role, body.actor, actor), requested_by=requested_by)
    return await _acted(return_id, "cancel", cancellation, returns.cancel(return_id, cancellation))


@router.post("/returns/{return_id}/receipts", tags=["warehouse"], status_code=202, responses=_documented(404, 409))
async def record_receipt(
    return_id: ReturnId, body: ReceiptBody, role: Warehouse, returns: Returns, actor: ActorHeader = None
) -> Accepted:
    """A parcel of this return arrived (several may); a repeated `receipt_id` counts once."""
    receipt = _as(ParcelReceipt, body, received_by=_actor(role, body.received_by, actor))
    await returns.record_receipt(return_id, receipt)
    log.info("receipt recorded", return_id=return_id, actor=receipt.received_by, receipt_id=receipt.receipt_id)
    return Accepted(return_id=return_id, event="parcel_received")


@router.post("/returns/{return_id}/inspection", tags=["warehouse"], status_code=202, responses=_documented(404, 409))
async def record_inspection(
    return_id: ReturnId, body: InspectionBody, role: Warehouse, returns: Returns, actor: ActorHeader = None
) -> Accepted:
    """A grade (with notes and photo URLs) for each open line, exactly once."""
    report = _as(InspectionReport, body, inspector=_actor(role, body.inspector, actor))
    await returns.record_inspection(return_id, report)
    log.info("inspection recorded", return_id=return_id, actor=report.inspector)
    return Accepted(return_id=return_id, event="inspection_recorded")


@router.post(
    "/returns/{return_id}/disposition-confirmations",
    tags=["warehouse"],
    responses=_documented(404, 409, 502, 503),
)
async def confirm_disposition(
    return_id: ReturnId, body: DispositionConfirmationBody, role: Warehouse, returns: Returns, actor: ActorHeader = None
) -> DispositionConfirmation:
    """The line's disposition work (refurbishment, liquidation, ...) is done; repeating it is harmless."""
    confirmed_by = _actor(role, body.confirmed_by, actor)
    confirmation = await returns.confirm_disposition(return_id, body.line_id, confirmed_by)
    log.info("disposition confirmed", return_id=return_id, line_id=body.line_id, actor=confirmed_by)
    return confirmation


@router.post("/returns/{return_id}/approve", tags=["operator"], responses=_documented(404, 409))
async def approve(
    return_id: ReturnId, body: ActionBody, role: Operator, returns: Returns, actor: ActorHeader = None
) -> ReturnStatus:
    """Approves whatever the return waits for: a review, a lost parcel, a refund shortfall or failure."""
    action = _as(OperatorAction, body, actor=_actor(role, body.actor, actor))
    return await _acted(return_id, "approve", action, returns.approve(return_id, action))


@router.post("/returns/{return_id}/reject", tags=["operator"], responses=_documented(404, 409))
async def reject(
    return_id: ReturnId, body: ActionBody, role: Operator, returns: Returns, actor: ActorHeader = None
) -> ReturnStatus:
    action = _as(OperatorAction, body, actor=_actor(role, body.actor, actor))
    return await _acted(return_id, "reject", action, returns.reject(return_id, action))


@router.post("/returns/{return_id}/retry", tags=["operator"], responses=_documented(404, 409))
async def retry(
    return_id: ReturnId, body: ActionBody, role: Operator, returns: Returns, actor: ActorHeader = None
) -> ReturnStatus:
    """Runs the failed step again (its retries had run out)."""
    action = _as(OperatorAction, body, actor=_actor(role, body.actor, actor))
    return await _acted(return_id, "retry", action, returns.retry(return_id, action))


@router.post("/returns/{return_id}/disposition-overrides", tags=["operator"], responses=_documented(404, 409))
async def override_disposition(
    return_id: ReturnId, body: DispositionOverrideBody, role: Operator, returns: Returns, actor: ActorHeader = None
) -> ReturnStatus:
    """Sets a line's disposition, before it ran (before or after the inspection)."""
    override = _as(DispositionOverride, body, actor=_actor(role, body.actor, actor))
    return await _acted(return_id, "override_disposition", override, returns.override_disposition(return_id, override))


@router.post("/returns/{return_id}/deadline-extensions", tags=["operator"], responses=_documented(404, 409))
async def extend_deadline(
    return_id: ReturnId, body: DeadlineExtensionBody, role: Operator, returns: Returns, actor: ActorHeader = None
) -> ReturnStatus:
    """Moves a running deadline (named in status.deadlines) later."""
    extension = _as(DeadlineExtension, body, actor=_actor(role, body.actor, actor))
    return await _acted(return_id, "extend_deadline", extension, returns.extend_deadline(return_id, extension))


async def _acted(
    return_id: str, action: str, payload: OperatorAction, outcome: Awaitable[ReturnStatus]
) -> ReturnStatus:
    status = await outcome
    log.info("return action", return_id=return_id, action=action, actor=payload.actor, reason=payload.reason)
    return status


def _document_roles(routes: Sequence[BaseRoute]) -> None:
    """Adds `x-roles` to each operation behind an API key, read from its `Admit` dependency."""
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        admits = [dependency.call for dependency in route.dependant.dependencies if isinstance(dependency.call, Admit)]
        if admits:
            route.openapi_extra = {**(route.openapi_extra or {}), "x-roles": [role.value for role in admits[0].roles]}


_document_roles(router.routes)


# --- Webhooks (authenticated by the vendors' own secrets, not API keys) -------------------------

_RAW_JSON_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}}
webhooks = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=_documented(400, 413, 422))


@webhooks.post("/shippo", openapi_extra=_RAW_JSON_BODY)
async def shippo_webhook(
    request: Request,
    returns: Returns,
    token: Annotated[
        str | None, Query(max_length=256, description="the secret token in the URL given to Shippo")
    ] = None,
    signature: Annotated[str | None, Header(alias=SHIPPO_SIGNATURE_HEADER, max_length=1024)] = None,
) -> EventDelivery:
    """Shippo `track_updated`: the scan goes to its return (label metadata, else tracking number).

    Answers 200 for parcels and events that are not ours, so Shippo does not retry them;
    redeliveries carry the same event id and the return counts them once.
    """
    settings: Settings = request.app.state.settings
    body = await request.body()
    verify_shippo_request(
        token, _revealed(settings.shippo_webhook_token), signature, body, _revealed(settings.shippo_webhook_hmac_secret)
    )
    try:
        update = parse_track_updated(body)
    except ValueError as error:
        raise InvalidReturnInput("body", f"not a Shippo webhook body: {error}") from error
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
    payment updates on the return named in the refund's metadata."""
    secret = _revealed(request.app.state.settings.stripe_webhook_secret)
    if secret is None:
        raise WebhookSignatureError("no Stripe webhook signing secret is configured")
    try:
        event = verify_and_parse(await request.body(), signature, secret)
    except ValueError as error:  # signed, but not an event Stripe's library can read
        raise InvalidReturnInput("body", f"not a Stripe event: {error}") from error
    delivery = EventDelivery(outcome=DeliveryOutcome.ignored)
    if event is not None:
        delivery = await returns.deliver_refund_event(event)
    log.info("stripe webhook", return_id=delivery.return_id, outcome=delivery.outcome.value)
    return delivery


def _revealed(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret else None


health = APIRouter(prefix="/v1", tags=["health"])


@health.get("/health")
async def get_health() -> Health:
    """Up and connected to Temporal (the server listens only after connecting). No key needed."""
    return Health(status="ok")


# --- The app -----------------------------------------------------------------------------------


def create_app(settings: Settings | None = None, returns: ReturnsClient | None = None) -> FastAPI:
    """The API app; connects its own ReturnsClient at startup unless one is given."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.returns = returns or await ReturnsClient.connect(settings)
        yield
        if returns is None:
            await app.state.returns.aclose()

    app = FastAPI(
        title="Returns on Temporal",
        version="1",
        summary="Product returns, each one a durable Temporal workflow.",
        description=(
            f"Send the API key of your role in `{API_KEY_HEADER}`; each operation lists the roles it admits"
            f" (`x-roles`). Actions name who acts (body field or `{ACTOR_HEADER}` header); the timeline"
            " records it as `<role>:<name>`. Errors are `ApiError` bodies."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(router)
    app.include_router(webhooks)
    app.include_router(health)
    _install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(RequestLog)
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, the same whatever the settings (keys and limits are not in it)."""
    return create_app(Settings()).openapi()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--print-openapi", action="store_true", help="print the OpenAPI document and exit")
    args = parser.parse_args()
    if args.print_openapi:
        print(json.dumps(openapi_document(), indent=2))
        return
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    # No access log: it would print Shippo's `?token=`; RequestLog logs requests without queries.
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        access_log=False,
        log_config=None,
        server_header=False,
    )


if __name__ == "__main__":
    main()
