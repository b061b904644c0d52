"""Pages that stay pages whatever happens behind them, and the stylesheet they share."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

log = structlog.get_logger(__name__)


def answering_with(unavailable: Callable[[Request], Response]) -> type[APIRoute]:
    """A route class whose pages answer `unavailable(request)` (a page, 503) when something behind
    them (Temporal, a shop platform, the store) fails, never the API's JSON error."""

    class PageRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def answer(request: Request) -> Response:
                try:
                    return await handler(request)
                except HTTPException:
                    raise
                except Exception:
                    log.exception("page failed", path=request.url.path)
                    return unavailable(request)

            return answer

    return PageRoute


def serve_shared_styles(app: FastAPI) -> None:
    """Serves web/static/ (the pages' shared stylesheet) under /web/static, once per app."""
    if not getattr(app.state, "shared_styles", False):
        app.mount("/web/static", StaticFiles(directory=Path(__file__).parent / "static"), name="web-static")
        app.state.shared_styles = True
