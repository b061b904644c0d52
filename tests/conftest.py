"""Shared fixtures: real sandboxes on loopback, real Temporal servers, a real worker.

Tool paths come from `.tools.env` (written by scripts/setup.sh); without them the
Temporal SDK downloads its own server builds.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integrations.settings import Settings
from integrations.temporal_client import RETURNS_DATA_CONVERTER, register_search_attributes
from sandboxes import shippo_sandbox, shop_sandbox, stripe_sandbox
from sandboxes.server import serve_in_thread
from workers.main import build_worker

ROOT = Path(__file__).resolve().parent.parent


def _load_tools_env() -> None:
    tools_env = ROOT / ".tools.env"
    if not tools_env.exists():
        return
    for line in tools_env.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        os.environ.setdefault(name.strip(), value.strip())


_load_tools_env()


@dataclass
class Sandboxes:
    stripe_url: str
    shippo_url: str
    shop_url: str
    store_dir: Path  # the session's event store

    def settings(self, **overrides: object) -> Settings:
        own = {
            "vendor_mode": "sandbox",
            "workflow_sandbox_strict": True,  # our workflow code under all of the sandbox's checks
            "stripe_api_base": self.stripe_url,
            "shippo_api_base": self.shippo_url,
            "shop_api_base": self.shop_url,
            "event_store_url": f"sqlite:///{self.store_dir / 'events.db'}",  # never the tree's .run/returns.db
        }
        return Settings(**(own | overrides))

    def admin(self, vendor: str, path: str) -> object:
        """Reads a sandbox's admin view (what the vendor would show in its dashboard)."""
        base = getattr(self, f"{vendor}_url")
        response = httpx.get(f"{base}{path}", timeout=10)
        response.raise_for_status()
        return response.json()

    def post(self, vendor: str, path: str, body: object) -> None:
        base = getattr(self, f"{vendor}_url")
        httpx.post(f"{base}{path}", json=body, timeout=10).raise_for_status()

    def fault(self, vendor: str, **fault: object) -> None:
        self.post(vendor, "/_sandbox/faults", fault)

    def clear_faults(self, vendor: str) -> None:
        base = getattr(self, f"{vendor}_url")
        httpx.delete(f"{base}/_sandbox/faults", timeout=10).raise_for_status()


@pytest.fixture(scope="session")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandboxes]:
    with (
        serve_in_thread(stripe_sandbox.create_app()) as stripe_url,
        serve_in_thread(shippo_sandbox.create_app()) as shippo_url,
        serve_in_thread(shop_sandbox.create_app()) as shop_url,
    ):
        yield Sandboxes(stripe_url, shippo_url, shop_url, tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def settings(sandboxes: Sandboxes) -> Settings:
    return sandboxes.settings(task_queue=f"returns-test-{uuid.uuid4().hex[:8]}")


async def start_time_skipping() -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=RETURNS_DATA_CONVERTER,
        test_server_existing_path=os.environ.get("TEMPORAL_TEST_SERVER_PATH") or None,
        test_server_startup_timeout=timedelta(seconds=90),  # a cold JVM on 2 cores
    )
    await register_search_attributes(env.client)
    return env


@pytest.fixture(scope="module")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping server per test module (never one for the whole session)."""
    env = await start_time_skipping()
    yield env
    await env.shutdown()


@pytest.fixture(scope="module")
async def worker(time_skipping_env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Worker]:
    """The production worker (workflow + real activities), one per module like the server:
    returns a test leaves waiting keep being served when a later test skips time."""
    worker, shop = build_worker(time_skipping_env.client, settings)
    async with worker:
        yield worker
    await shop.aclose()
