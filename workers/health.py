"""The worker's own small HTTP server, for orchestrators and Prometheus (WORKER_HEALTH_PORT; off unset).

- `/livez`: the process's event loop answers.
- `/readyz`: the worker is polling (started, not shutting down) and Temporal answers; 503 otherwise.
- `/metrics`: the worker's business metrics (integrations/telemetry.py: refunds, failed steps).

Nothing secret in the answers, so no key; bind it where only the orchestrator and Prometheus reach.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from temporalio.client import Client

from integrations.health import Readiness, temporal_answers
from integrations.settings import Settings
from integrations.telemetry import PROMETHEUS_CONTENT_TYPE, WorkerMetrics


@dataclass
class WorkerState:
    polling: bool = False  # set once the worker runs; cleared when it starts shutting down


def health_app(client: Client, settings: Settings, state: WorkerState, metrics: WorkerMetrics) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/livez")
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        readiness = Readiness({"worker": "ok" if state.polling else "not polling"})
        readiness.checks["temporal"] = await temporal_answers(client, settings.readiness_timeout_seconds)
        body = {"status": "ready" if readiness.ready else "not_ready", "checks": readiness.checks}
        return JSONResponse(body, status_code=200 if readiness.ready else 503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)

    return app


async def serve_health(app: FastAPI, host: str, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Serves `app` in this event loop; returns once it listens."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, access_log=False, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task  # it failed to bind: say why
            raise RuntimeError(f"the worker's health server did not start on {host}:{port}")
        await asyncio.sleep(0.02)
    return server, task
