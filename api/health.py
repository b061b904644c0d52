"""Liveness, readiness and metrics: for orchestrators, load balancers and Prometheus. No key needed, and
nothing secret in the answers (no address, version, key or error text).

- `/v1/livez`: the process answers (restart it if not).
- `/v1/readyz`: Temporal answers within READINESS_TIMEOUT_SECONDS and the task queue has workflow and
  activity pollers (send it traffic only then); 503 otherwise, an ApiError (`not_ready`) whose `fields`
  name each failed check.
- `/v1/health`: the former health check, now liveness; kept for existing probes.
- `/metrics`: Prometheus (integrations/telemetry.py); with METRICS_AUTH_TOKEN set, only with
  `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from api.errors import ApiError, FieldProblem, error_response
from integrations.health import api_readiness
from integrations.telemetry import PROMETHEUS_CONTENT_TYPE
from starter.visibility import scoped
from workflows.vocabulary import Stage

health = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"]


class ReadinessReport(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str]  # temporal, workflow_pollers, activity_pollers -> "ok"


@health.get("/v1/livez")
async def get_livez() -> Health:
    """The process answers. Says nothing about Temporal or workers: that is readiness."""
    return Health(status="ok")


@health.get("/v1/health", deprecated=True)
async def get_health() -> Health:
    """Liveness, under its former name (use /v1/livez and /v1/readyz)."""
    return Health(status="ok")


@health.get("/v1/readyz", responses={503: {"model": ApiError, "description": "not ready: `fields` says why"}})
async def get_readyz(request: Request) -> ReadinessReport:
    """Ready when Temporal answers and a worker polls the task queue for workflow and activity tasks."""
    settings = request.app.state.settings
    readiness = await api_readiness(
        request.app.state.returns.temporal, settings.task_queue, settings.readiness_timeout_seconds
    )
    if not readiness.ready:
        failed = [FieldProblem(field=name, message=state) for name, state in readiness.checks.items() if state != "ok"]
        return error_response(503, "not ready", code="not_ready", fields=failed)  # type: ignore[return-value]
    return ReadinessReport(status="ready", checks=readiness.checks)


@health.get("/metrics", include_in_schema=False)
async def get_metrics(request: Request) -> Response:
    settings = request.app.state.settings
    if settings.metrics_auth_token is not None:
        sent = request.headers.get("authorization", "")
        expected = f"Bearer {settings.metrics_auth_token.get_secret_value()}"
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            return Response(status_code=401)
    body = await request.app.state.metrics.render(
        request.app.state.returns.temporal,
        [stage.value for stage in Stage],
        scoped,
        settings.readiness_timeout_seconds,
    )
    return Response(body, media_type=PROMETHEUS_CONTENT_TYPE)
