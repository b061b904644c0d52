"""Waiting for a return to get somewhere: for demos, tests and benchmarks, not for the product
(shops are told by events, not by polling)."""

from __future__ import annotations

import asyncio
from typing import Protocol

import workflows.rules as rules
from starter.errors import ReturnUnavailableError
from workflows.models import ReturnStatus
from workflows.vocabulary import CLOSED_STAGES, Stage


class StatusSource(Protocol):
    async def status(self, return_id: str) -> ReturnStatus: ...


def has_reached(current: Stage, target: Stage) -> bool:
    """Whether a return in `current` is done waiting for `target`: there, past it, or closed."""
    if current is target or current in CLOSED_STAGES:
        return True
    return target not in CLOSED_STAGES and rules.is_at_or_past(current, target)


async def wait_for_stage(source: StatusSource, return_id: str, stage: Stage, timeout: float = 60) -> ReturnStatus:
    """Polls the return's status until it reaches `stage` or closes; TimeoutError after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            status: ReturnStatus | None = await source.status(return_id)
        except ReturnUnavailableError:
            status = None  # e.g. its worker died and another is taking it over: keep polling
        if status is not None and has_reached(status.stage, stage):
            return status
        if asyncio.get_running_loop().time() > deadline:
            seen = status.stage.value if status else "unreachable"
            raise TimeoutError(f"return {return_id} still {seen} after {timeout:g} s")
        await asyncio.sleep(0.1)
