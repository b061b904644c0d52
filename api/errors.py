"""Every refusal a door can show, as an HTTP status and an `ApiError` body, in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError, RPCStatusCode

from integrations.errors import IntegrationError, WebhookSignatureError
from starter.errors import (
    InvalidReturnInput,
    ReturnConflictError,
    ReturnNotFoundError,
    ReturnStateError,
    ReturnUnavailableError,
)
from store.webhooks import UnknownSubscriptionError
from workflows.vocabulary import Stage

log = structlog.get_logger(__name__)


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
    400: "bad_request",
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


# How long a caller should wait before trying again after a 503: a worker taking over a return, an
# API process or the Temporal server coming back all take seconds, not minutes.
RETRY_AFTER_SECONDS = 2
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer", "example": RETRY_AFTER_SECONDS},
    }
}


class BodyNotJson(Exception):
    """The request's body can't be read as JSON at all (as opposed to JSON with wrong fields)."""

    def __init__(self, reason: str):
        super().__init__(f"the request body is not JSON: {reason}")


def error_response(status: int, message: str, code: str | None = None, **details: Any) -> JSONResponse:
    body = ApiError(error=code or _CODES.get(status, "error"), message=message, **details)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "model": ApiError,
            "description": _CODES[status],
            **({"headers": _RETRY_AFTER} if status == 503 else {}),
        }
        for status in statuses
    }


# FAILED_PRECONDITION: the return's worker can't run its code right now, so it can't answer a query.
_TRY_AGAIN = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.FAILED_PRECONDITION})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        not_json = _not_json(request, error.errors())
        if not_json is not None:
            return error_response(400, str(not_json), "invalid_json")
        problems = [
            FieldProblem(
                location=str(problem["loc"][0]) if problem["loc"] else None,
                field=".".join(str(part) for part in problem["loc"][1:]),
                message=_WHOLE_BODY.get(problem["type"], problem["msg"])
                if len(problem["loc"]) == 1
                else problem["msg"],
            )
            for problem in error.errors()
        ]
        return error_response(422, "the request is not valid", fields=problems)

    @app.exception_handler(InvalidReturnInput)
    async def invalid_input(_: Request, error: InvalidReturnInput) -> JSONResponse:
        problems = [FieldProblem(field=field, message=message) for field, message in error.problems]
        return error_response(422, str(error), fields=problems)

    @app.exception_handler(ReturnNotFoundError)
    async def not_found(_: Request, error: ReturnNotFoundError) -> JSONResponse:
        return error_response(404, str(error), return_id=error.return_id)

    @app.exception_handler(ReturnConflictError)
    async def conflict(_: Request, error: ReturnConflictError) -> JSONResponse:
        return error_response(409, str(error), return_id=error.return_id)

    @app.exception_handler(ReturnStateError)
    async def invalid_state(_: Request, error: ReturnStateError) -> JSONResponse:
        return error_response(409, error.reason, "invalid_state", return_id=error.return_id, stage=error.stage)

    @app.exception_handler(WebhookSignatureError)
    async def bad_signature(_: Request, error: WebhookSignatureError) -> JSONResponse:
        log.warning("webhook rejected", reason=str(error))
        return error_response(400, str(error), "invalid_signature")

    @app.exception_handler(IntegrationError)
    async def shop_failed(_: Request, error: IntegrationError) -> JSONResponse:
        log.warning("shop platform call failed", error_code=error.code, status=error.status)
        return error_response(503 if error.retryable else 502, f"the shop platform answered: {error.code}")

    @app.exception_handler(RPCError)
    async def temporal_failed(_: Request, error: RPCError) -> JSONResponse:
        if error.status in _TRY_AGAIN:
            log.warning("temporal unavailable", status=error.status.name, message=error.message)
            return error_response(503, "the return can't be reached right now; try again")
        log.error("temporal call failed", status=error.status.name, message=error.message)
        return error_response(500, "internal error")

    @app.exception_handler(ReturnUnavailableError)
    async def return_unreachable(_: Request, error: ReturnUnavailableError) -> JSONResponse:
        log.warning("temporal or the return's worker did not answer in time", return_id=error.return_id)
        return error_response(503, "the return can't be reached right now; try again")

    @app.exception_handler(UnknownSubscriptionError)
    async def no_subscription(_: Request, error: UnknownSubscriptionError) -> JSONResponse:
        return error_response(404, f"no event subscription {error}")

    @app.exception_handler(SQLAlchemyError)
    async def store_unreachable(_: Request, error: SQLAlchemyError) -> JSONResponse:
        log.warning("event store unavailable", error=type(error).__name__)
        return error_response(503, "the event store can't be reached right now; try again")

    @app.exception_handler(BodyNotJson)
    async def body_not_json(_: Request, error: BodyNotJson) -> JSONResponse:
        return error_response(400, str(error), "invalid_json")

    @app.exception_handler(StarletteHTTPException)
    async def httperror_response(_: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == _FASTAPI_UNPARSEABLE:  # e.g. nested too deeply to read
            return error_response(
                400, str(BodyNotJson("it can't be parsed (malformed or nested too deeply)")), "invalid_json"
            )
        return error_response(error.status_code, str(error.detail))


# Pydantic's words for a body that is JSON but not an object, said plainly.
_WHOLE_BODY = {
    "model_attributes_type": "the body must be a JSON object",
    "dict_type": "the body must be a JSON object",
    "missing": "a JSON body is required",
}
# What FastAPI answers when its JSON parser raises something other than a decode error.
_FASTAPI_UNPARSEABLE = "There was an error parsing the body"


def _not_json(request: Request, problems: Sequence[Any]) -> BodyNotJson | None:
    """Why the body is not JSON at all, when that is what the validation problems say."""
    for problem in problems:
        if problem["type"] == "json_invalid":
            reason = (problem.get("ctx") or {}).get("error") or "malformed"
            at = f" at character {problem['loc'][1]}" if len(problem["loc"]) > 1 else ""
            return BodyNotJson(f"{reason}{at}")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    sent_as_json = media_type == "application/json" or media_type.endswith("+json")
    body_unread = any(tuple(problem["loc"]) == ("body",) and problem["type"] != "missing" for problem in problems)
    if body_unread and not sent_as_json:
        return BodyNotJson(f"it was sent as {media_type or 'no media type'}; send it as application/json")
    return None
