"""What every request passes through: a body size limit, and one log line per request."""

from __future__ import annotations

import re
import time

import structlog
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

log = structlog.get_logger(__name__)


class BodySizeLimit:
    """Refuses bodies over `max_bytes` with 413: early by Content-Length, else while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        # path pattern (a whole path) -> its own limit: the forms with photos
        self.larger = [(re.compile(pattern), limit) for pattern, limit in (larger or {}).items()]

    def _limit(self, path: str) -> int:
        return next((limit for pattern, limit in self.larger if pattern.fullmatch(path)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        max_bytes = self._limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            return await error_response(413, self._message(max_bytes))(scope, receive, send)
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise HTTPException(413, self._message(max_bytes))  # the handler has not acted yet: it reads first
            return message

        await self.app(scope, limited, send)

    @staticmethod
    def _message(max_bytes: int) -> str:
        return f"request bodies are limited to {max_bytes} bytes"


class RequestLog:
    """One structured line per request: method, path (never the query: tokens travel there), status,
    time, and the caller's role and key id (api/auth.py) once its key was recognised, never the key."""

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
            caller = scope.get("state", {}).get("caller")
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=duration_ms,
                role=caller.role.value if caller else None,
                key_id=caller.key_id if caller else None,
            )
