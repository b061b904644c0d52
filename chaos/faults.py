"""The faults a chaos run injects while returns are in flight, and the log of what was done when.

- a worker SIGKILLed every ~20 s (jittered), another started after a moment;
- now and then, every worker SIGKILLed while the webhooks held back for it are delivered
  (the return's events reach it in one batch, as after an outage), then workers started again;
- the API process SIGKILLed and started again (`api_kills` times, spread over the run);
- the Temporal server killed and started again on the same SQLite file (`temporal_restarts`);
- vendor faults through the sandboxes' `/_sandbox/faults`, in turn and spread over the run: Stripe
  500 and 429 bursts, a refund Stripe made but answered late, a Shippo call that outlasts the
  client's read timeout, and a label purchase that hangs.

Process faults never overlap (one lock): a worker started while the server is down would exit.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaos.context import Context
from devstack.stack import LocalStack

# What each vendor fault is, as the sandbox's fault API takes it. Shippo's client gives up reading
# after 30 s (SHIPPO_READ_TIMEOUT_SECONDS), Stripe's after 20 s, each then retried by Temporal.
VENDOR_FAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "stripe_500_burst": ("stripe", {"path": "/v1/refunds", "status": 500, "times": 4}),
    "stripe_429_burst": ("stripe", {"path": "/v1/refunds", "status": 429, "times": 4}),
    "stripe_refund_answered_late": (
        "stripe",
        {"method": "POST", "path": "/v1/refunds", "delay_seconds": 5, "after": True, "times": 1},
    ),
    "shippo_timeout": ("shippo", {"method": "POST", "path": "/shipments", "delay_seconds": 35, "times": 1}),
    "shippo_label_purchase_hangs": (
        "shippo",
        {"method": "POST", "path": "/transactions", "delay_seconds": 45, "times": 1},
    ),
}
# The longest a window with no worker lasts while held deliveries go out.
WINDOW_SECONDS = 20.0
PROCESS_FAULTS = (
    "worker_sigkill",
    "no_worker_window",
    "api_sigkill",
    "temporal_restart",
)


@dataclass
class FaultLog:
    began: float = field(default_factory=time.monotonic)
    events: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def record(self, kind: str, **detail: Any) -> None:
        self.counts[kind] += 1
        self.events.append({"at_s": round(time.monotonic() - self.began, 1), "kind": kind, **detail})


def _same(pending: dict[str, Any], fault: dict[str, Any]) -> bool:
    defaults = {"method": None, "path": None, "status": None, "after": False}
    return all(pending.get(key) == fault.get(key, default) for key, default in defaults.items())


class FaultController:
    def __init__(self, stack: LocalStack, context: Context, progress: Callable[[], float]):
        self.stack = stack
        self.context = context
        self.config = context.config
        self.progress = progress
        self.log = FaultLog()
        self._processes = asyncio.Lock()
        self._rng = context.rng

    async def run(self, done: asyncio.Event) -> None:
        await asyncio.gather(
            self._kill_workers(done),
            self._no_worker_windows(done),
            self._vendor_faults(done),
            self._milestones(done),
        )

    async def restore(self) -> dict[str, int]:
        """Clears the faults still waiting to fire and brings the processes back; answers what never fired."""
        unfired: Counter[str] = Counter()
        for vendor in ("stripe", "shippo"):
            client = self.context.vendors.admin(vendor)
            for fault in (await client.get("/_sandbox/faults")).raise_for_status().json():
                unfired[f"{vendor} {fault.get('method') or '*'} {fault['path']}"] += fault["times"]
            (await client.delete("/_sandbox/faults")).raise_for_status()
        async with self._processes:
            self._top_up_workers()
            if not self.stack.running("api"):
                await self.stack.start_api()
        return dict(unfired)

    # --- Loops ------------------------------------------------------------------------------------

    async def _kill_workers(self, done: asyncio.Event) -> None:
        while await self._pause(done, self.config.worker_kill_every_s):
            async with self._processes:
                live = self.stack.running("worker")
                if live:
                    victim = self._rng.choice(live)
                    self.stack.kill(victim)
                    self.log.record("worker_sigkill", pid=victim.pid)
                await asyncio.sleep(self._rng.uniform(0.5, 3.0))
                self._top_up_workers()

    async def _no_worker_windows(self, done: asyncio.Event) -> None:
        while await self._pause(done, self.config.no_worker_window_every_s):
            async with self._processes:
                for worker in self.stack.running("worker"):
                    self.stack.kill(worker)
                began = time.monotonic()
                groups = self.context.held.take_all()
                sending = [asyncio.create_task(self._send_group(deliveries, sent)) for deliveries, sent in groups]
                # Bounded: a delivery the API can't take without a worker must not keep them all down;
                # it goes on once they are back (a vendor retries too).
                _, unfinished = await asyncio.wait(sending, timeout=WINDOW_SECONDS) if sending else (set(), set())
                await asyncio.sleep(2.0)  # the server holds the events; nothing can act on them yet
                sent_count = sum(len(deliveries) for deliveries, _ in groups)
                self.context.tally.held_sent_in_window += sent_count
                self._top_up_workers()
                self.log.record(
                    "no_worker_window",
                    returns=len(groups),
                    deliveries=sent_count,
                    unfinished_returns=len(unfinished),
                    seconds=round(time.monotonic() - began, 1),
                )

    async def _send_group(self, deliveries: list, sent: asyncio.Future[None]) -> None:
        try:
            for delivery in deliveries:
                await self.context.deliver(delivery)
        except Exception as error:  # the owner must hear of it, not wait forever
            if not sent.done():
                sent.set_exception(error)
            return
        if not sent.done():
            sent.set_result(None)

    async def _vendor_faults(self, done: asyncio.Event) -> None:
        """Each vendor fault `vendor_faults_per_kind` times, spread over the run's progress (not its
        clock, so a slow machine meets as many faults per return as a fast one), in turn; one of a
        kind waits until the last one of that kind has fired, so they never pile up."""
        kinds = list(VENDOR_FAULTS)
        count = self.config.vendor_faults_per_kind * len(kinds)
        schedule = [((n + 0.5) / count, kinds[n % len(kinds)]) for n in range(count)]
        for at, kind in schedule:
            vendor, fault = VENDOR_FAULTS[kind]
            admin = self.context.vendors.admin(vendor)
            while True:
                if done.is_set():
                    return
                if self.progress() >= at:
                    pending = (await admin.get("/_sandbox/faults")).raise_for_status().json()
                    if not any(_same(waiting, fault) for waiting in pending):
                        break
                await asyncio.sleep(0.5)
            (await admin.post("/_sandbox/faults", json=fault)).raise_for_status()
            self.log.record(kind, times=fault["times"], progress=round(self.progress(), 3))

    async def _milestones(self, done: asyncio.Event) -> None:
        """The API kills and the Temporal restarts, each when the run has got that far."""
        plan: list[tuple[float, str]] = []
        kills = self.config.api_kills
        plan += [(0.3 + 0.45 * i / max(1, kills - 1), "api") for i in range(kills)]
        plan += [(0.55 + 0.15 * i, "temporal") for i in range(self.config.temporal_restarts)]
        for at, what in sorted(plan):
            while self.progress() < at:
                if done.is_set():
                    return
                await asyncio.sleep(0.5)
            async with self._processes:
                began = time.monotonic()
                if what == "api":
                    self.stack.kill_api()
                    await asyncio.sleep(2.0)
                    await self.stack.start_api()
                    self.log.record("api_sigkill", progress=round(at, 2), down_s=round(time.monotonic() - began, 1))
                else:
                    await self.stack.restart_temporal()
                    self.log.record(
                        "temporal_restart", progress=round(at, 2), down_s=round(time.monotonic() - began, 1)
                    )

    # --- Helpers -------------------------------------------------------------------------------------

    def _top_up_workers(self) -> None:
        while len(self.stack.running("worker")) < self.config.workers:
            self.stack.start_worker()

    async def _pause(self, done: asyncio.Event, every: float) -> bool:
        """Sleeps about `every` seconds (±25%); False once the run is done."""
        try:
            await asyncio.wait_for(done.wait(), every * self._rng.uniform(0.75, 1.25))
        except TimeoutError:
            return True
        return False
