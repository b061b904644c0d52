"""The HTTP API called the way its users call it: a dropped connection or a 503 is tried again
(after `Retry-After`), anything else is the answer. Every attempt is counted by route, with its
status and latency.

The routes retried are idempotent by contract (a return id, a receipt id, a carrier event id, a
refund's id and status), so trying again is what a shop, a warehouse or a vendor does.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

# An API process being restarted, or a worker being replaced: how long a caller keeps trying.
DEFAULT_PATIENCE_SECONDS = 180.0
_CONNECTION_ERROR = "connection_error"


@dataclass
class RouteStats:
    """Every attempt per route: statuses, latencies, and 503s that did not say when to come back."""

    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    unavailable_without_retry_after: Counter[str] = field(default_factory=Counter)

    def record(self, route: str, status: int | str, latency_ms: float | None) -> None:
        self.statuses[route][str(status)] += 1
        if latency_ms is not None:
            self.latencies_ms[route].append(latency_ms)

    def summary(self) -> dict[str, Any]:
        return {
            route: {"statuses": dict(sorted(self.statuses[route].items())), **percentiles(self.latencies_ms[route])}
            for route in sorted(self.statuses)
        }

    def count(self, predicate: Callable[[str], bool]) -> int:
        return sum(n for counts in self.statuses.values() for status, n in counts.items() if predicate(status))


def percentiles(samples: list[float]) -> dict[str, float | int]:
    """n, p50, p95, p99 and max of latencies in ms (nearest rank)."""
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 1)

    return {"n": len(ordered), "p50": rank(50), "p95": rank(95), "p99": rank(99), "max": round(ordered[-1], 1)}


class GaveUp(Exception):
    """The API gave no usable answer within the caller's patience."""


class ApiCaller:
    def __init__(self, base_url: str, stats: RouteStats, *, patience: float = DEFAULT_PATIENCE_SECONDS):
        self.stats = stats
        self.patience = patience
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        self.http = httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        route: str,
        headers: dict[str, str] | None = None,
        json: Any = None,
        content: Callable[[], tuple[bytes, dict[str, str]]] | None = None,
        params: dict[str, str] | None = None,
        on_retry: Callable[[], None] | None = None,
        retry_unavailable: bool = True,
    ) -> httpx.Response:
        """Sends until an answer other than 503 (or a dropped connection) comes; answers it.

        `content` builds a signed body and its headers afresh for each attempt (webhooks).
        """
        deadline = time.monotonic() + self.patience
        pause = 0.25
        while True:
            request_headers = dict(headers or {})
            body = None
            if content is not None:
                body, signed = content()
                request_headers.update(signed)
            started = time.perf_counter()
            try:
                response = await self.http.request(
                    method, path, headers=request_headers, json=json, content=body, params=params
                )
            except httpx.TransportError:
                self.stats.record(route, _CONNECTION_ERROR, None)
                wait = pause
            else:
                self.stats.record(route, response.status_code, (time.perf_counter() - started) * 1000)
                if response.status_code != 503 or not retry_unavailable:
                    return response
                retry_after = response.headers.get("Retry-After")
                if retry_after is None:
                    self.stats.unavailable_without_retry_after[route] += 1
                wait = max(pause, float(retry_after)) if retry_after and retry_after.isdigit() else pause
            if time.monotonic() + wait > deadline:
                raise GaveUp(f"{method} {path}: no answer within {self.patience:g} s")
            if on_retry is not None:
                on_retry()
            await asyncio.sleep(wait)
            pause = min(pause * 2, 4.0)
