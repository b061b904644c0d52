"""What every part of a chaos run shares: its settings, the API as callers see it, the vendors,
the webhooks held back for a window with no worker, and the tallies the report shows."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from chaos.caller import ApiCaller
from chaos.vendors import Signed, Vendors
from devstack.demo import role_headers
from devstack.stack import ROOT
from integrations.settings import Settings


@dataclass(frozen=True)
class ChaosConfig:
    returns: int = 1000
    in_flight: int = 12
    seed: int = 10
    workers: int = 2  # worker processes normally running; one is SIGKILLed and replaced every ~20 s
    worker_kill_every_s: float = 20.0
    no_worker_window_every_s: float = 90.0  # all workers gone while held webhooks are delivered
    vendor_faults_per_kind: int = 25  # spread over the run's progress
    api_kills: int = 2  # spread over the run
    temporal_restarts: int = 1
    journey_timeout_s: float = 1200.0
    settle_timeout_s: float = 600.0
    output: Path = ROOT / ".run" / "chaos" / "results.json"


# A few dozen returns with every fault kind: proves the harness (the test suite runs it).
QUICK = ChaosConfig(
    returns=36,
    in_flight=8,
    worker_kill_every_s=15.0,
    no_worker_window_every_s=30.0,
    vendor_faults_per_kind=2,
    api_kills=1,
    journey_timeout_s=900.0,
    settle_timeout_s=300.0,
)


@dataclass(frozen=True)
class Held:
    """A webhook delivery kept back to be sent while no worker runs."""

    return_id: str
    route: str
    path: str
    build: Callable[[], Signed]
    params: dict[str, str]


class HeldDeliveries:
    """Deliveries waiting for the next window with no worker; each group is told when it went out."""

    def __init__(self) -> None:
        self._waiting: list[tuple[list[Held], asyncio.Future[None]]] = []

    def hold(self, deliveries: list[Held]) -> asyncio.Future[None]:
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((deliveries, sent))
        return sent

    def take_all(self) -> list[tuple[list[Held], asyncio.Future[None]]]:
        taken, self._waiting = self._waiting, []
        return taken

    def take_back(self, sent: asyncio.Future[None]) -> list[Held] | None:
        """The group waiting on `sent` if no window has taken it yet (its owner sends it then)."""
        for index, (deliveries, future) in enumerate(self._waiting):
            if future is sent:
                del self._waiting[index]
                return deliveries
        return None


@dataclass
class Tally:
    """What callers saw besides the returns' own outcomes."""

    webhook_outcomes: Counter[str] = field(default_factory=Counter)  # "shippo:signalled", ...
    not_signalled: list[str] = field(default_factory=list)  # "<return id> <vendor>:<outcome>"
    operator_retries: int = 0
    after_lost_answer: Counter[str] = field(default_factory=Counter)  # a retried action found already done
    held_sent_in_window: int = 0
    held_sent_by_owner: int = 0
    refused: list[str] = field(default_factory=list)  # answers no caller should have got


@dataclass
class Context:
    config: ChaosConfig
    settings: Settings
    api: ApiCaller
    vendors: Vendors
    held: HeldDeliveries
    tally: Tally
    rng: random.Random

    def headers(self, role: str, actor: str = "chaos") -> dict[str, str]:
        return role_headers(self.settings, role, actor)

    async def deliver(self, delivery: Held) -> httpx.Response:
        """Sends one webhook delivery until the API answers (the vendor retries on no answer and 5xx)."""
        response = await self.api.call(
            "POST", delivery.path, route=delivery.route, content=delivery.build, params=delivery.params
        )
        vendor = delivery.route.rsplit("/", 1)[-1]
        if response.status_code == 200:
            outcome = f"{vendor}:{response.json().get('outcome')}"
            self.tally.webhook_outcomes[outcome] += 1
            if not outcome.endswith(":signalled"):
                self.tally.not_signalled.append(f"{delivery.return_id} {outcome}")
        else:
            self.tally.webhook_outcomes[f"{vendor}:http_{response.status_code}"] += 1
            self.tally.refused.append(f"{delivery.return_id}: {delivery.route} answered {response.status_code}")
        return response
