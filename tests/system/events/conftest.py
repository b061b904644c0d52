"""Shared by the event tests: an operator's API client on the module's stack, and polling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from devstack.demo import role_headers
from devstack.stack import LocalStack


@pytest.fixture(scope="module")
async def operator(stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    """The operator's key on the module's stack, at /v1."""
    headers = role_headers(stack.settings, "operator")
    async with httpx.AsyncClient(base_url=f"{stack.api_url}/v1", headers=headers, timeout=30) as api:
        yield api


async def until(probe: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Waits for `probe` to hold (the store and the receiver are a moment behind the return)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not probe():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.1)
