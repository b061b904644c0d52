"""Fault injection shared by every sandbox.

A test (or a benchmark) tells a sandbox, through its admin API, to answer the next N
requests matching a method and path prefix with an HTTP status, a delay, or both:

    POST /_sandbox/faults {"method": "POST", "path": "/v1/refunds", "status": 500, "times": 3}
    POST /_sandbox/faults {"path": "/transactions", "delay_seconds": 30, "times": 1}
    GET /_sandbox/faults       the faults still waiting to fire (`times` left)
    DELETE /_sandbox/faults

A fault with a delay and no status delays the request and then serves it normally,
which is how a slow vendor (or, with a delay longer than the client's timeout, a
hanging one) is simulated. With `"after": true` the request is served first and only
the answer is delayed: the vendor did the work, but the caller may never hear of it
(the crash-after-purchase case).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

ADMIN_PREFIX = "/_sandbox"


class Fault(BaseModel):
    method: str | None = Field(default=None, description="HTTP method to match; any when absent")
    path: str = Field(description="path prefix to match, e.g. /v1/refunds")
    status: int | None = Field(default=None, ge=400, le=599)
    body: dict | None = Field(default=None, description="JSON body answered with the status")
    delay_seconds: float = Field(default=0.0, ge=0, le=600)
    after: bool = Field(default=False, description="serve the request, then delay the answer")
    times: int = Field(default=1, ge=1)


class FaultInjector:
    """Faults waiting to fire, consumed in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault.model_copy())

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return [fault.model_copy() for fault in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if (fault.method is None or fault.method.upper() == method) and path.startswith(fault.path):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None


def install_faults(app: FastAPI, error_body: Callable[[int], dict]) -> FaultInjector:
    """Adds the fault middleware and `/_sandbox/faults` admin routes to a sandbox app.

    `error_body(status)` builds the vendor-shaped error body used when a fault has none.
    """
    injector = FaultInjector()
    router = APIRouter(prefix=ADMIN_PREFIX, tags=["sandbox admin"])

    @router.post("/faults", status_code=204)
    def add_fault(fault: Fault) -> None:
        injector.add(fault)

    @router.get("/faults")
    def pending_faults() -> list[Fault]:
        return injector.pending()

    @router.delete("/faults", status_code=204)
    def clear_faults() -> None:
        injector.clear()

    app.include_router(router)

    @app.middleware("http")
    async def inject(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path.startswith(ADMIN_PREFIX):
            return await call_next(request)
        fault = injector.take(request.method, request.url.path)
        if fault is None:
            return await call_next(request)
        if fault.after:
            response = await call_next(request)
            await asyncio.sleep(fault.delay_seconds)
            return response
        if fault.delay_seconds:
            await asyncio.sleep(fault.delay_seconds)
        if fault.status is None:
            return await call_next(request)
        return JSONResponse(fault.body or error_body(fault.status), status_code=fault.status)

    return injector
