"""Pages that stay pages whatever happens behind them."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

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
