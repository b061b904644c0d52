"""The portal's lookup limits in the production topology's Redis (Debian's redis-server): one count for
every API process, and each process counting on its own while Redis is away."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from deploy import Tools
from devstack.ports import free_port
from integrations.settings import Settings
from portal.pages import LookupLimits


@pytest.fixture
def redis(production_tools: Tools) -> Iterator[tuple[subprocess.Popen, str]]:
    port = free_port()
    server = subprocess.Popen(
        [str(production_tools.redis_server), "--bind", "127.0.0.1", "--port", str(port), "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline and server.poll() is None, "redis-server did not start"
            time.sleep(0.05)
    yield server, url
    server.kill()
    server.wait()


def test_two_api_processes_count_an_order_s_lookups_once(redis: tuple[subprocess.Popen, str]) -> None:
    server, url = redis
    settings = Settings(portal_rate_limit_storage=url, portal_lookups_per_order="4/10 minutes")
    one, other = LookupLimits(settings), LookupLimits(settings)  # as two API processes behind the balancer
    asked = [(one if n % 2 else other).hit(f"10.0.0.{n}", "ORD-SHARED") for n in range(6)]
    assert asked == [True, True, True, True, False, False]  # four in all, not four each

    server.kill()
    server.wait()
    alone = [one.hit("10.0.0.1", "ORD-SHARED") for _ in range(5)]
    assert alone == [True, True, True, True, False]  # Redis away: this process still limits, on its own
