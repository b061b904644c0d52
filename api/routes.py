"""The storefront's, the warehouse's and the operator's routes under /v1, each a thin call to ReturnsClient."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

import structlog
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.routing import BaseRoute

from api.auth import (
    ACTOR_HEADER,
    ActorHeader,
    Admit,
    AnyRole,
    Caller,
    IdempotencyHeader,
    Operator,
    Role,
    ShopOrOperator,
    Storefront,
    Warehouse,
    update_id,
    visible_return,
)
from api.errors import documented
from starter.client import ActorName, ReturnsClient
from starter.eligibility import Eligibility
from starter.errors import InvalidReturnInput
from starter.visibility import ReturnFilter, ReturnPage
from store.reports import ReportName
from workflows.models import (
    Acknowledgement,
    Cancellation,
    DeadlineExtension,
    DispositionConfirmation,
    DispositionOverride,
    InspectionReport,
    OperatorAction,
    OtherWay,
    ParcelReceipt,
    PickupChange,
    ReturnRequest,
    ReturnStatus,
    TimelineEntry,
)
from workflows.primitives import Currency, Identifier

log = structlog.get_logger(__name__)
M = TypeVar("M", bound=BaseModel)

ReturnId = Annotated[Identifier, Path(description="the shop's return id")]


def _returns(request: Request) -> ReturnsClient:
    return request.app.state.returns


Returns = Annotated[ReturnsClient, Depends(_returns)]


def _as(contract: type[M], body: BaseModel, **fields: object) -> M:
    """The contract's model built from a request body, with the fields the API fills in."""
    return contract.model_validate(body.model_dump() | fields)


# --- Request bodies: the contract's models, with the actor optional (the key names who acts) -------


_ACTOR_FIELD = Field(default=None, description=f"whom a system's key acts for; or the {ACTOR_HEADER} header")


class ActionBody(OperatorAction):
    actor: ActorName | None = _ACTOR_FIELD


class OtherWayBody(OtherWay):
    actor: ActorName | None = _ACTOR_FIELD


class DispositionOverrideBody(DispositionOverride):
    actor: ActorName | None = _ACTOR_FIELD


class DeadlineExtensionBody(DeadlineExtension):
    actor: ActorName | None = _ACTOR_FIELD


class PickupChangeBody(PickupChange):
    actor: ActorName | None = _ACTOR_FIELD


class ReceiptBody(ParcelReceipt):
    received_by: ActorName | None = _ACTOR_FIELD


class InspectionBody(InspectionReport):
    inspector: ActorName | None = _ACTOR_FIELD


class DispositionConfirmationBody(DispositionConfirmation):
    confirmed_by: ActorName | None = _ACTOR_FIELD


class ListQuery(ReturnFilter):
    page_size: int = Field(default=50, ge=1, le=200)
    page_token: str | None = Field(default=None, max_length=4096)


class Accepted(BaseModel):
    """The event was handed to the return; its status shows the effect shortly after."""

    return_id: str
    event: Literal["parcel_received", "inspection_recorded"]


# Text from the doors ends up in timelines, logs and operators' terminals: no control characters
# (tab and line breaks aside) and no bidirectional overrides, which can make text read as it isn't.
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


async def plain_text(request: Request) -> None:
    """Refuses (422, naming the field) a query parameter or JSON body string with a control character."""
    for name, value in request.query_params.multi_items():
        if _CONTROL_CHARACTERS.search(value):
            raise InvalidReturnInput(name, "control characters are not allowed")
    if request.method != "POST":
        return
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError):
        return  # not JSON: the body's own validation says so
    pending: list[tuple[str, object]] = [("", body)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str) and _CONTROL_CHARACTERS.search(value):
            raise InvalidReturnInput(path or "body", "control characters are not allowed")
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            field = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _CONTROL_CHARACTERS.search(key):  # named, not echoed
                raise InvalidReturnInput(field.encode("unicode_escape").decode(), "control characters are not allowed")
            pending.append((field, item))


router = APIRouter(prefix="/v1", dependencies=[Depends(plain_text)], responses=documented(400, 401, 403, 413, 422, 503))


@router.post("/eligibility", tags=["storefront"], responses=documented(502, 503))
async def check_eligibility(request: ReturnRequest, caller: ShopOrOperator, returns: Returns) -> Eligibility:
    """What starting this request would decide about each line now. Starts nothing.

    Answers only about an order named rightly: its id and the customer's email or postal code
    (`customer_address.email` or `customer_address.zip`); otherwise it is an unknown order (422).
    """
    return await returns.check_eligibility(request, shop_id=caller.shop)


@router.post(
    "/returns",
    tags=["storefront"],
    status_code=201,
    responses={
        200: {"model": ReturnStatus, "description": "the same request was sent before: that return"},
        **documented(409),
    },
)
async def start_return(
    request: ReturnRequest, caller: Storefront, returns: Returns, response: Response
) -> ReturnStatus:
    """Starts a return; idempotent on `return_id` (a different body under the same id is a 409).
    A key that names a shop starts returns whose ids and order ids begin `<shop>:`. An order the shop
    platform does not know is a 422 and starts nothing."""
    started = await returns.start(request, shop_id=caller.shop)
    response.headers["Location"] = f"/v1/returns/{request.return_id}"
    if not started.created:
        response.status_code = 200
    log.info("return started" if started.created else "return start repeated", return_id=request.return_id)
    return await returns.status(request.return_id)


@router.get("/returns", tags=["storefront", "warehouse", "operator"])
async def list_returns(query: Annotated[ListQuery, Query()], caller: AnyRole, returns: Returns) -> ReturnPage:
    """Returns matching every given filter (Temporal visibility), newest first, one page at a time;
    a key that names a shop lists only that shop's."""
    return await returns.list_returns(
        query, page_size=query.page_size, page_token=query.page_token, shop_id=caller.shop
    )


@router.get("/returns/{return_id}", tags=["storefront", "warehouse", "operator"], responses=documented(404))
async def get_status(return_id: ReturnId, caller: AnyRole, returns: Returns) -> ReturnStatus:
    return await returns.status(visible_return(caller, return_id))


@router.get("/returns/{return_id}/timeline", tags=["storefront", "warehouse", "operator"], responses=documented(404))
async def get_timeline(return_id: ReturnId, caller: AnyRole, returns: Returns) -> list[TimelineEntry]:
    return await returns.timeline(visible_return(caller, return_id))


class ReportBody(BaseModel):
    report: str = Field(description="the report's name; the return-rate reports say by what")
    parameters: dict[str, Any] = Field(description="the period (start inclusive, end exclusive, UTC) and currency")
    columns: list[str]
    rows: list[dict[str, Any]]


@router.get(
    "/reports/{name}",
    tags=["operator"],
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON or CSV"}},
)
async def get_report(
    name: Annotated[ReportName, Path(description="which report (README: Reports)")],
    caller: Operator,
    returns: Returns,
    request: Request,
    start: Annotated[
        date | None, Query(alias="from", description="first day, UTC (default: 30 days before `to`)")
    ] = None,
    end: Annotated[date | None, Query(alias="to", description="last day, included (default: today)")] = None,
    currency: Annotated[Currency | None, Query(description="only this currency")] = None,
    format: Annotated[Literal["json", "csv"] | None, Query(description="or send Accept: text/csv")] = None,
) -> ReportBody:
    """A report on returns from the event store, by event dates (README: "Reports"); money by currency.
    Every shop's returns: a key that names a shop is refused."""
    if caller.shop is not None:
        raise HTTPException(403, "reports cover every shop's returns: a shop's key can't read them")
    report = await returns.report(name, start, end, currency)
    if format == "csv" or (format is None and "text/csv" in request.headers.get("accept", "")):
        disposition = f'attachment; filename="{report.name}.csv"'
        return Response(report.to_csv(), media_type="text/csv", headers={"Content-Disposition": disposition})
    return ReportBody.model_validate(report.to_json())


@router.post("/returns/{return_id}/cancel", tags=["storefront", "operator"], responses=documented(404, 409))
async def cancel(
    return_id: ReturnId,
    body: ActionBody,
    caller: ShopOrOperator,
    returns: Returns,
    actor: ActorHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> ReturnStatus:
    """Cancels and compensates. With a storefront key the shopper cancels (only before the parcel ships)."""
    requested_by = "shopper" if caller.role is Role.storefront else "operator"
    cancellation = _as(Cancellation, body, actor=caller.actor(body.actor or actor), requested_by=requested_by)
    sent = returns.cancel(
        visible_return(caller, return_id), cancellation, idempotency_key=update_id(caller, "cancel", idempotency_key)
    )
    return await _acted(return_id, "cancel", cancellation, sent, returns)


@router.put("/returns/{return_id}/pickup", tags=["storefront", "operator"], responses=documented(404, 409))
async def reschedule_pickup(
    return_id: ReturnId,
    body: PickupChangeBody,
    caller: ShopOrOperator,
    returns: Returns,
    actor: ActorHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> ReturnStatus:
    """Moves the carrier pickup (method pickup) to another window, or books one again after the
    carrier refused a window: until the booked pickup's cancel-by time, while the parcel is at the
    shopper's. The earlier booking is given up (`status.pickup.released`: tell the carrier)."""
    change = _as(PickupChange, body, actor=caller.actor(body.actor or actor))
    return await _operator_action(
        caller, return_id, "reschedule_pickup", change, idempotency_key, returns.reschedule_pickup, returns
    )


@router.delete("/returns/{return_id}/pickup", tags=["storefront", "operator"], responses=documented(404, 409))
async def cancel_pickup(
    return_id: ReturnId,
    body: ActionBody,
    caller: ShopOrOperator,
    returns: Returns,
    actor: ActorHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> ReturnStatus:
    """No carrier pickup after all: the shopper drops the parcel off with the label. The return waits
    for the parcel as before; the booking is given up (`status.pickup.released`: tell the carrier)."""
    action = _as(OperatorAction, body, actor=caller.actor(body.actor or actor))
    return await _operator_action(
        caller, return_id, "cancel_pickup", action, idempotency_key, returns.cancel_pickup, returns
    )


@router.post("/returns/{return_id}/receipts", tags=["warehouse"], status_code=202, responses=documented(404, 409))
async def record_receipt(
    return_id: ReturnId,
    body: ReceiptBody,
    caller: Warehouse,
    returns: Returns,
    actor: ActorHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> Accepted:
    """A parcel of this return arrived (several may); a repeated `receipt_id` counts once."""
    receipt = _as(ParcelReceipt, body, received_by=caller.actor(body.received_by or actor))
    await returns.record_receipt(
        visible_return(caller, return_id), receipt, idempotency_key=update_id(caller, "receipt", idempotency_key)
    )
    log.info("receipt recorded", return_id=return_id, actor=receipt.received_by, receipt_id=receipt.receipt_id)
    return Accepted(return_id=return_id, event="parcel_received")


@router.post("/returns/{return_id}/inspection", tags=["warehouse"], status_code=202, responses=documented(404, 409))
async def record_inspection(
    return_id: ReturnId,
    body: InspectionBody,
    caller: Warehouse,
    returns: Returns,
    actor: ActorHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> Accepted:
    """A grade (with notes and photo URLs) for each open line, exactly once."""
    report = _as(InspectionReport, body, inspector=caller.actor(body.inspector or actor))
    await returns.record_inspection(
        visible_return(caller, return_id), report, idempotency_key=update_id(caller, "inspection", idempotency_key)
    )
    log.info("inspection recorded", return_id=return_id, actor=report.inspector)
    return Accepted(return_id=return_id, event="inspection_recorded")


@router.post(
    "/returns/{return_id}/disposition-confirmations",
    tags=["warehouse"],
    responses=documented(404, 409, 503),
)
async def confirm_disposition(
    return_id: ReturnId,
    body: DispositionConfirmationBody,
    caller: Warehouse,
    returns: Returns,
    actor: ActorHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> Acknowledgement:
    """The line's disposition work (refurbishment, liquidation, ...) is done; repeating it is harmless."""
    confirmation = _as(DispositionConfirmation, body, confirmed_by=caller.actor(body.confirmed_by or actor))
    acknowledged = await returns.confirm_disposition(
        visible_return(caller, return_id),
        confirmation,
        idempotency_key=update_id(caller, "confirm_disposition", idempotency_key),
    )
    log.info("disposition confirmed", return_id=return_id, line_id=body.line_id, actor=confirmation.confirmed_by)
    return acknowledged


@router.post("/returns/{return_id}/approve", tags=["operator"], responses=documented(404, 409))
async def approve(
    return_id: ReturnId,
    body: ActionBody,
    caller: Operator,
    returns: Returns,
    actor: ActorHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> ReturnStatus:
    """Approves whatever the return waits for: a review, a lost parcel, a refund shortfall or failure."""
    action = _as(OperatorAction, body, actor=caller.actor(body.actor or actor))
    return await _operator_action(caller, return_id, "approve", action, idempotency_key, returns.approve, returns)


@router.post("/returns/{return_id}/reject", tags=["operator"], responses=documented(404, 409))
async def reject(
    return_id: ReturnId,
    body: ActionBody,
    caller: Operator,
    returns: Returns,
    actor: ActorHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> ReturnStatus:
    action = _as(OperatorAction, body, actor=caller.actor(body.actor or actor))
    return await _operator_action(caller, return_id, "reject", action, idempotency_key, returns.reject, returns)


@router.post("/returns/{return_id}/retry", tags=["operator"], responses=documented(404, 409))
async def retry(
    return_id: ReturnId,
    body: ActionBody,
    caller: Operator,
    returns: Returns,
    actor: ActorHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> ReturnStatus:
    """Runs the failed step again (its retries had run out)."""
    action = _as(OperatorAction, body, actor=caller.actor(body.actor or actor))
    return await _operator_action(caller, return_id, "retry", action, idempotency_key, returns.retry, returns)


@router.post("/returns/{return_id}/other-way", tags=["operator"], responses=documented(404, 409))
async def resolve_otherwise(
    return_id: ReturnId,
    body: OtherWayBody,
    caller: Operator,
    returns: Returns,
    actor: ActorHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> ReturnStatus:
    """Resolves a step that failed for good another way than retrying it: `store_credit` for a refund
    that can't be made, `close_unresolved` for any step (`status.attention` names the step)."""
    other = _as(OtherWay, body, actor=caller.actor(body.actor or actor))
    return await _operator_action(
        caller, return_id, "resolve_otherwise", other, idempotency_key, returns.resolve_otherwise, returns
    )


@router.post("/returns/{return_id}/disposition-overrides", tags=["operator"], responses=documented(404, 409))
async def override_disposition(
    return_id: ReturnId,
    body: DispositionOverrideBody,
    caller: Operator,
    returns: Returns,
    actor: ActorHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> ReturnStatus:
    """Sets a line's disposition, before it ran (before or after the inspection)."""
    override = _as(DispositionOverride, body, actor=caller.actor(body.actor or actor))
    return await _operator_action(
        caller, return_id, "override_disposition", override, idempotency_key, returns.override_disposition, returns
    )


@router.post("/returns/{return_id}/deadline-extensions", tags=["operator"], responses=documented(404, 409))
async def extend_deadline(
    return_id: ReturnId,
    body: DeadlineExtensionBody,
    caller: Operator,
    returns: Returns,
    actor: ActorHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> ReturnStatus:
    """Moves a running deadline (named in status.deadlines) later. Send an `Idempotency-Key`: a
    retried request with the same key never moves it twice."""
    extension = _as(DeadlineExtension, body, actor=caller.actor(body.actor or actor))
    return await _operator_action(
        caller, return_id, "extend_deadline", extension, idempotency_key, returns.extend_deadline, returns
    )


P = TypeVar("P", bound=OperatorAction)


async def _operator_action(
    caller: Caller,
    return_id: str,
    action: str,
    payload: P,
    idempotency_key: str | None,
    send: Callable[..., Awaitable[Acknowledgement]],
    returns: ReturnsClient,
) -> ReturnStatus:
    sent = send(visible_return(caller, return_id), payload, idempotency_key=update_id(caller, action, idempotency_key))
    return await _acted(return_id, action, payload, sent, returns)


async def _acted(
    return_id: str, action: str, payload: OperatorAction, outcome: Awaitable[Acknowledgement], returns: ReturnsClient
) -> ReturnStatus:
    """Sends an action; answers the return's status right after (the update itself answers little)."""
    await outcome
    log.info("return action", return_id=return_id, action=action, actor=payload.actor, reason=payload.reason)
    return await returns.status(return_id)


def document_roles(routes: Sequence[BaseRoute]) -> None:
    """Adds `x-roles` to each operation behind an API key, read from its `Admit` dependency."""
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        admits = [dependency.call for dependency in route.dependant.dependencies if isinstance(dependency.call, Admit)]
        if admits:
            route.openapi_extra = {**(route.openapi_extra or {}), "x-roles": [role.value for role in admits[0].roles]}


document_roles(router.routes)
