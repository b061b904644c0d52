"""The shop platform sandbox, driven through `ShopPlatform` and the shop activities (admin calls aside)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.models import NotificationKind, OrderFacts, ShopperNotification
from activities.shop import ShopActivities, order_facts
from devstack.ports import free_port
from integrations.errors import IntegrationError
from integrations.settings import Settings
from integrations.shop import ShopPlatform
from sandboxes.server import serve_in_thread
from sandboxes.shop_sandbox import create_app
from workflows.vocabulary import Disposition

ORDER: dict[str, Any] = {
    "order_id": "o-1",
    "customer_id": "c-1",
    "currency": "USD",
    "delivered_at": "2025-03-01T12:00:00Z",
    "lines": [
        {"line_id": "l-1", "sku": "SHIRT-M", "category": "apparel", "quantity": 3, "unit_price": 2500},
        {"line_id": "l-2", "sku": "MUG", "category": "home", "quantity": 1, "unit_price": 1200, "returnable": False},
    ],
    "customer_return_count": 2,
}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_in_thread(create_app()) as url:
        yield url


@pytest.fixture(autouse=True)
async def admin(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Seeds and reads the sandbox; also plays the warehouse and other clients of the API."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        (await client.post("/_sandbox/reset")).raise_for_status()
        (await client.post("/_sandbox/orders", json=ORDER)).raise_for_status()
        yield client


@pytest.fixture
async def shop(base_url: str) -> AsyncIterator[ShopPlatform]:
    platform = ShopPlatform(Settings(shop_api_base=base_url))
    yield platform
    await platform.aclose()


async def listed(admin: httpx.AsyncClient, collection: str) -> list[dict[str, Any]]:
    return (await admin.get(f"/_sandbox/{collection}")).json()


async def on_hand(admin: httpx.AsyncClient, sku: str) -> int:
    return (await admin.get(f"/v1/stock/{sku}")).json()["on_hand"]


async def test_load_order_answers_the_seeded_facts(shop: ShopPlatform) -> None:
    assert order_facts(await shop.load_order("o-1")) == OrderFacts.model_validate(ORDER)


async def test_unknown_order_is_not_found_and_not_retryable(shop: ShopPlatform) -> None:
    with pytest.raises(IntegrationError) as error:
        await shop.load_order("o-missing")
    assert (error.value.code, error.value.status, error.value.retryable) == ("shop.order_not_found", 404, False)
    assert "o-missing" in error.value.message  # the body is kept for operators


async def test_the_shoppers_order_has_titles_and_addresses_and_counts_units_held_by_returns(
    shop: ShopPlatform, admin: httpx.AsyncClient
) -> None:
    dock = {"name": "Dock", "street1": "1 Pier", "city": "San Jose", "zip": "95122", "country": "US"}
    titled = ORDER | {
        "order_id": "o-2",
        "lines": [ORDER["lines"][0] | {"title": "Shirt, M"}, ORDER["lines"][1]],
        "return_address": dock,
    }
    (await admin.post("/_sandbox/orders", json=titled)).raise_for_status()

    order = await shop.load_shopper_order("o-2")
    assert [line.title for line in order.lines] == ["Shirt, M", "MUG"]  # the SKU where the shop gives no title
    assert order.return_address is not None and order.return_address.zip == "95122"
    assert order.shipping_address is None
    assert await shop.quantities_in_returns("o-2") == {}

    await shop.reserve_quantities("o-2", "r-1", [("l-1", 2)], key="r-1:reserve")
    await shop.reserve_quantities("o-2", "r-2", [("l-1", 2)], key="r-2:reserve")  # one unit left for it
    assert await shop.quantities_in_returns("o-2") == {"l-1": 3}
    await shop.release_quantities("o-2", "r-1")
    assert await shop.quantities_in_returns("o-2") == {"l-1": 1}  # a released reservation holds nothing


async def test_reservations_clamp_across_returns_and_release_frees(
    shop: ShopPlatform, admin: httpx.AsyncClient
) -> None:
    first = await shop.reserve_quantities("o-1", "r-1", [("l-1", 2), ("l-9", 1)], key="r-1:reserve")
    assert [(line.line_id, line.requested, line.reserved) for line in first] == [("l-1", 2, 2), ("l-9", 1, 0)]

    second = await shop.reserve_quantities("o-1", "r-2", [("l-1", 2)], key="r-2:reserve")
    assert [(line.requested, line.reserved) for line in second] == [(2, 1)]

    assert await shop.reserve_quantities("o-1", "r-1", [("l-1", 2), ("l-9", 1)], key="r-1:reserve") == first  # a retry
    # One reservation per return, whatever the key: another client asking again gets it back.
    again = await admin.post(
        "/v1/orders/o-1/return_reservations",
        json={"return_id": "r-1", "lines": [{"line_id": "l-1", "quantity": 3}]},
        headers={"Idempotency-Key": "another-key"},
    )
    assert [line["reserved"] for line in again.json()["lines"]] == [2, 0]

    await shop.release_quantities("o-1", "r-1")
    await shop.release_quantities("o-1", "r-1")  # releasing twice is fine
    third = await shop.reserve_quantities("o-1", "r-3", [("l-1", 3)], key="r-3:reserve")
    assert [(line.requested, line.reserved) for line in third] == [(3, 2)]  # r-2 still holds one

    # Each return counted once, on top of the two the customer started before.
    assert (await shop.load_order("o-1")).customer_return_count == 5


async def test_same_key_has_one_effect_even_when_sent_at_once(shop: ShopPlatform, admin: httpx.AsyncClient) -> None:
    receipts = await asyncio.gather(*(shop.restock("SHIRT-M", 2, "r-1", key="r-1:l-1:restock") for _ in range(5)))
    assert len(set(receipts)) == 1
    assert [restock["id"] for restock in await listed(admin, "restocks")] == [receipts[0].restock_id]
    assert await on_hand(admin, "SHIRT-M") == 2


async def test_key_reused_with_another_body_is_rejected_for_good(shop: ShopPlatform, admin: httpx.AsyncClient) -> None:
    await shop.restock("SHIRT-M", 2, "r-1", key="r-1:l-1:restock")
    with pytest.raises(IntegrationError) as error:
        await shop.restock("SHIRT-M", 3, "r-1", key="r-1:l-1:restock")
    assert (error.value.code, error.value.status, error.value.retryable) == ("shop.idempotency_key_reused", 409, False)
    assert len(await listed(admin, "restocks")) == 1


async def test_restock_and_its_reversal_move_stock_once_each(shop: ShopPlatform, admin: httpx.AsyncClient) -> None:
    (await admin.post("/_sandbox/stock", json={"SHIRT-M": 5})).raise_for_status()
    receipt = await shop.restock("SHIRT-M", 2, "r-1", key="r-1:l-1:restock")
    assert await on_hand(admin, "SHIRT-M") == 7
    by_reference = await admin.get("/v1/restocks", params={"reference": "r-1"})
    assert [r["id"] for r in by_reference.json()] == [receipt.restock_id]

    await shop.reverse_restock(receipt.restock_id, key="r-1:l-1:reversal")
    await shop.reverse_restock(receipt.restock_id, key="r-1:l-1:reversal")
    assert await on_hand(admin, "SHIRT-M") == 5
    assert [r["reversed"] for r in await listed(admin, "restocks")] == [True]


@pytest.mark.parametrize(
    ("disposition", "kind", "collection"),
    [
        (Disposition.refurbish, "refurbishment", "refurbishment_orders"),
        (Disposition.liquidate, "liquidation", "liquidation_items"),
        (Disposition.recycle, "recycling", "recycling_orders"),
        (Disposition.return_to_vendor, "vendor_rma", "vendor_rmas"),
        (Disposition.donate, "donation", "donations"),
        (Disposition.destroy, "destruction", "destructions"),
    ],
)
async def test_each_disposition_opens_one_work_order_of_its_kind(
    shop: ShopPlatform, admin: httpx.AsyncClient, disposition: Disposition, kind: str, collection: str
) -> None:
    key = f"r-1:l-1:{disposition.value}"
    work_order_id = await shop.open_work_order(disposition.value, "r-1", "l-1", "SHIRT-M", 1, key=key)
    assert await shop.open_work_order(disposition.value, "r-1", "l-1", "SHIRT-M", 1, key=key) == work_order_id
    assert [(w["id"], w["kind"]) for w in await listed(admin, "work_orders")] == [(work_order_id, kind)]
    assert (await admin.get(f"/v1/{collection}/{work_order_id}")).json()["status"] == "open"


async def test_restock_is_no_disposition_work_order(shop: ShopPlatform) -> None:
    with pytest.raises(ValueError):
        await shop.open_work_order(Disposition.restock.value, "r-1", "l-1", "SHIRT-M", 1, key="r-1:l-1:restock")


async def test_the_warehouse_confirms_a_work_order_once(shop: ShopPlatform, admin: httpx.AsyncClient) -> None:
    work_order_id = await shop.open_work_order("recycle", "r-1", "l-1", "SHIRT-M", 1, key="r-1:l-1:recycle")
    path = f"/v1/work_orders/{work_order_id}/completion"
    for key, person in (("done-1", "ada"), ("done-2", "bob")):  # the first confirmation stands
        response = await admin.post(path, json={"completed_by": person}, headers={"Idempotency-Key": key})
        assert response.status_code == 200
    assert (response.json()["status"], response.json()["completed_by"]) == ("completed", "ada")


async def test_store_credit_adds_up_to_a_balance(shop: ShopPlatform, admin: httpx.AsyncClient) -> None:
    receipt = await shop.issue_store_credit("c-1", 1500, "USD", "r-1", key="k-1")
    assert (receipt.amount, receipt.currency) == (1500, "USD")
    assert await shop.issue_store_credit("c-1", 1500, "USD", "r-1", key="k-1") == receipt
    await shop.issue_store_credit("c-1", 500, "USD", "r-2", key="k-2")
    balance = (await admin.get("/v1/customers/c-1/store_credit")).json()
    assert balance == {"customer_id": "c-1", "balances": {"USD": 2000}}


async def test_exchange_takes_stock_or_answers_out_of_stock(shop: ShopPlatform, admin: httpx.AsyncClient) -> None:
    (await admin.post("/_sandbox/stock", json={"SHIRT-L": 1})).raise_for_status()
    ordered = await shop.order_exchange("o-1", "c-1", "SHIRT-L", 1, "r-1", key="x-1")
    assert ordered.exchange_order_id is not None
    assert await on_hand(admin, "SHIRT-L") == 0

    missed = await shop.order_exchange("o-1", "c-1", "SHIRT-L", 1, "r-2", key="x-2")
    assert (missed.exchange_order_id, missed.sku, missed.quantity) == (None, "SHIRT-L", 1)
    assert [x["id"] for x in await listed(admin, "exchange_orders")] == [ordered.exchange_order_id]


async def test_a_notification_is_sent_once(shop: ShopPlatform, admin: httpx.AsyncClient) -> None:
    """Through the activity, which derives the key from the return, the kind and the message."""
    notify = ShopActivities(shop).notify_shopper
    label_ready = ShopperNotification(
        return_id="r-1", customer_id="c-1", kind=NotificationKind.label_ready, detail="Your label is ready."
    )
    await ActivityEnvironment().run(notify, label_ready)
    await ActivityEnvironment().run(notify, label_ready)
    refunded = label_ready.model_copy(update={"kind": NotificationKind.refunded, "detail": "Refunded."})
    await ActivityEnvironment().run(notify, refunded)
    assert [n["kind"] for n in await listed(admin, "notifications")] == ["label_ready", "refunded"]


async def test_a_server_error_is_retryable(shop: ShopPlatform, admin: httpx.AsyncClient) -> None:
    (await admin.post("/_sandbox/faults", json={"path": "/v1/orders", "status": 500})).raise_for_status()
    with pytest.raises(IntegrationError) as error:
        await shop.load_order("o-1")
    assert (error.value.status, error.value.retryable) == (500, True)
    assert (await shop.load_order("o-1")).order_id == "o-1"  # the fault fired once


async def test_an_unreachable_platform_is_retryable() -> None:
    shop = ShopPlatform(Settings(shop_api_base=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(IntegrationError) as error:
        await shop.load_order("o-1")
    await shop.aclose()
    assert (error.value.code, error.value.retryable) == ("shop.network", True)


async def test_a_post_without_idempotency_key_is_invalid(admin: httpx.AsyncClient) -> None:
    response = await admin.post(
        "/v1/notifications", json={"customer_id": "c-1", "return_id": "r-1", "kind": "x", "detail": ""}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


async def test_customers_are_found_by_the_email_their_orders_carry(
    admin: httpx.AsyncClient, shop: ShopPlatform
) -> None:
    for order_id, customer in (("o-2", "c-2"), ("o-3", "c-2"), ("o-4", "c-3")):
        email = "Bo@Example.com" if customer == "c-2" else "cy@example.com"
        seeded = {**ORDER, "order_id": order_id, "customer_id": customer, "customer_email": email}
        (await admin.post("/_sandbox/orders", json=seeded)).raise_for_status()
    assert await shop.customers_with_email("bo@example.com") == ["c-2"]  # once, whatever the case
    assert await shop.customers_with_email("nobody@example.com") == []
    with pytest.raises(IntegrationError) as refused:
        await shop.customers_with_email("x")
    assert refused.value.status == 422 and not refused.value.retryable
