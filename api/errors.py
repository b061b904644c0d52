"""Every refusal a door can show, as an HTTP status and an `ApiError` body, in one place."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
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


def error_response(status: int, message: str, code: str | None = None, **details: Any) -> JSONResponse:
    body = ApiError(error=code or _CODES.get(status, "error"), message=message, **details)
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=status)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ApiError, "description": _CODES[status]} for status in statuses}


# FAILED_PRECONDITION: the return's worker can't run its code right now, so it can't answer a query.
_TRY_AGAIN = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.FAILED_PRECONDITION})


def install_error_handlers(app: FastAPI) -> None:
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

    @app.exception_handler(StarletteHTTPException)
    async def httperror_response(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return error_response(error.status_code, str(error.detail))
