"""Return rates' denominator from the shop platform: its daily sales query (the sandbox counts the
orders it holds), copied into the store by `copy_sales` and the `python -m store copy-sales` command,
then read by the return-rate report."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from integrations.errors import IntegrationError
from integrations.settings import Settings
from integrations.shop import ShopPlatform
from sandboxes.server import serve_in_thread
from sandboxes.shop_sandbox import create_app
from store import reports
from store.reports import Period
from store.sales import StoredUnitsSold, copy_sales
from tests.integration.store.dataset import march_2025


def _order(order_id: str, placed: str | None, delivered: str | None, *lines: tuple[str, str, int]) -> dict:
    return {
        "order_id": order_id,
        "customer_id": "C-9",
        "currency": "USD",
        "placed_at": placed,
        "delivered_at": delivered,
        "lines": [
            {"line_id": f"L{n}", "sku": sku, "category": category, "quantity": quantity, "unit_price": 1000}
            for n, (sku, category, quantity) in enumerate(lines, 1)
        ],
    }


async def _seed(shop_url: str, *orders: dict, reset: bool = False) -> None:
    async with httpx.AsyncClient(base_url=shop_url, timeout=10) as admin:
        if reset:
            (await admin.post("/_sandbox/reset")).raise_for_status()
        for order in orders:
            (await admin.post("/_sandbox/orders", json=order)).raise_for_status()


@pytest.fixture(scope="module")
def shop_url() -> Iterator[str]:
    with serve_in_thread(create_app()) as url:
        yield url


@pytest.fixture
async def shop(shop_url: str) -> AsyncIterator[ShopPlatform]:
    await _seed(
        shop_url,
        _order("O-1", "2025-03-01T09:00:00Z", "2025-03-03T12:00:00Z", ("S-TEE", "apparel", 7), ("S-MUG", "home", 1)),
        _order("O-2", "2025-03-01T23:59:00Z", None, ("S-TEE", "apparel", 1)),
        _order("O-3", None, "2025-03-02T08:00:00Z", ("S-MUG", "home", 2)),  # no sale date: its delivery's
        _order("O-4", "2025-04-01T00:00:00Z", None, ("S-TEE", "apparel", 50)),  # after the range
        reset=True,
    )
    platform = ShopPlatform(Settings(shop_api_base=shop_url))
    yield platform
    await platform.aclose()


async def test_the_platform_answers_units_sold_per_day_and_sku(shop: ShopPlatform) -> None:
    sold = await shop.daily_sales(date(2025, 3, 1), date(2025, 4, 1))
    assert [(s.day.isoformat(), s.sku, s.category, s.currency, s.units) for s in sold] == [
        ("2025-03-01", "S-MUG", "home", "USD", 1),
        ("2025-03-01", "S-TEE", "apparel", "USD", 8),
        ("2025-03-02", "S-MUG", "home", "USD", 2),
    ]
    for start, end in ((date(2025, 3, 2), date(2025, 3, 1)), (date(2024, 1, 1), date(2025, 3, 1))):
        with pytest.raises(IntegrationError) as refused:
            await shop.daily_sales(start, end)
        assert refused.value.code == "shop.invalid_range" and not refused.value.retryable


async def test_copied_sales_are_the_return_rates_denominator_and_a_copy_again_replaces_them(
    store, shop: ShopPlatform, shop_url: str
) -> None:
    for script in march_2025():
        for event in script.events:
            store.append(event)
    stored = StoredUnitsSold(store.engine)
    assert await copy_sales(shop, stored, date(2025, 3, 1), date(2025, 4, 1)) == 3

    march = Period(datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))
    rates = {row["sku"]: row for row in reports.return_rates(store, march, stored, "USD").rows}
    tees = rates["S-TEE"]  # the hand-made month returns 4 tees against the 8 sold
    assert (tees["units_sold"], tees["units_returned"]) == (8, 4) and tees["return_rate"] == 0.5

    # The platform corrects a day (an order cancelled): copying the days again replaces them.
    await _seed(shop_url, _order("O-2", None, None))
    assert await copy_sales(shop, stored, date(2025, 3, 1), date(2025, 3, 2)) == 2
    by_sku = {sold.sku: sold.units for sold in stored.units_sold(march.start, march.end, "USD")}
    assert by_sku == {"S-TEE": 7, "S-MUG": 3}


def test_the_nightly_command_copies_the_last_days(tmp_path, shop_url: str) -> None:
    today = datetime.now(UTC)
    httpx.post(f"{shop_url}/_sandbox/reset", timeout=10).raise_for_status()
    for order in (
        _order("O-T", today.isoformat(), None, ("S-CAP", "apparel", 2)),
        _order("O-Y", (today - timedelta(days=3)).isoformat(), None, ("S-CAP", "apparel", 1)),
        _order("O-OLD", (today - timedelta(days=30)).isoformat(), None, ("S-CAP", "apparel", 9)),
    ):
        httpx.post(f"{shop_url}/_sandbox/orders", json=order, timeout=10).raise_for_status()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    environment = {**os.environ, "SHOP_API_BASE": shop_url, "EVENT_STORE_URL": url}
    for command in (["migrate"], ["copy-sales", "--days", "7"]):
        done = subprocess.run(
            [sys.executable, "-m", "store", *command], env=environment, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
    assert "copied 2 rows" in done.stdout
    week = Period(today - timedelta(days=40), today + timedelta(days=1))
    from store.db import make_engine

    engine = make_engine(url)
    try:
        assert sum(sold.units for sold in StoredUnitsSold(engine).units_sold(week.start, week.end)) == 3
    finally:
        engine.dispose()
