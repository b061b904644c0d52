"""Local stand-in for the shop platform: orders, inventory, store credit, exchange orders,
disposition work orders and shopper notifications, in memory.

It speaks the shop platform API v1 that `integrations.shop` documents and calls (sales per
day and SKU are counted from the orders it holds, dated by `placed_at`, else `delivered_at`). Every
POST under /v1 needs an `Idempotency-Key`: the same key with the same body replays the
first answer without a second effect; the same key with another body (or path) is a
409 `idempotency_key_reused`. Errors are not recorded (nothing happened), so a retry
after the cause is fixed can succeed. Error bodies are `{"error": code, "message": ...}`.

Admin routes (no auth, no idempotency) for tests and the demo:

    POST /_sandbox/orders   an order, in the shape GET /v1/orders/{id} answers
    POST /_sandbox/stock    {"SKU-1": 5, ...}: sets those SKUs' units on hand
    POST /_sandbox/products [{sku, title, family}]: the catalog (a family's products are variants)
    GET  /_sandbox/{reservations,restocks,work_orders,store_credits,exchange_orders,notifications}
    POST /_sandbox/reset    forget everything, faults included
    POST/DELETE /_sandbox/faults   see faults.py
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from sandboxes.faults import ADMIN_PREFIX, install_faults

T = TypeVar("T", bound=BaseModel)
MOST_SALES_DAYS = 366  # one sales query's longest range

Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Quantity = Annotated[int, Field(ge=1, le=100_000)]

# The disposition partners' work orders: kind -> collection under /v1.
WORK_ORDER_COLLECTIONS: dict[str, str] = {
    "refurbishment": "refurbishment_orders",
    "liquidation": "liquidation_items",
    "recycling": "recycling_orders",
    "vendor_rma": "vendor_rmas",
    "donation": "donations",
    "destruction": "destructions",
}


class Wire(BaseModel):
    """Strict on input (a typo is a 422, not a silently ignored field); frozen, so a stored
    record can be handed out and replayed without copying."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ShopAddress(Wire):
    name: Id
    street1: Id
    street2: Id | None = None
    city: Id
    state: Id | None = None
    zip: Id
    country: str = Field(pattern=r"^[A-Z]{2}$")
    phone: Id | None = None


class OrderLine(Wire):
    line_id: Id
    sku: Id
    category: Id
    quantity: Quantity
    unit_price: int = Field(ge=0)
    returnable: bool = True
    title: Annotated[str, StringConstraints(max_length=200)] | None = None  # what the shopper bought, in words


class OrderPayment(Wire):
    payment_intent_id: str = Field(pattern=r"^pi_[A-Za-z0-9_]+$")
    amount: int = Field(ge=0)  # what this payment paid, in the order's currency


class Order(Wire):
    order_id: Id
    customer_id: Id
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    delivered_at: datetime | None
    placed_at: datetime | None = None  # when it was sold (the sales query's date; else its delivery's)
    lines: list[OrderLine]
    customer_return_count: int = Field(default=0, ge=0)
    payments: list[OrderPayment] = []  # in the order refunds go back to them (split tender: several)
    # How a shopper names the order besides its id (the eligibility door asks for one of them).
    customer_email: Annotated[str, StringConstraints(max_length=254)] | None = None
    shipping_postal_code: Annotated[str, StringConstraints(max_length=20)] | None = None
    shipping_address: ShopAddress | None = None  # where the order went (a return's label starts there)
    return_address: ShopAddress | None = None  # the shop's dock for this order's returns


class Customer(Wire):
    customer_id: str


class DailySales(Wire):
    """Units of a SKU sold on a day (UTC), in one currency: the denominator of return rates."""

    day: date
    sku: str
    category: str
    currency: str
    units: int


class ReservationLineIn(Wire):
    line_id: Id
    quantity: Quantity


class ReservationIn(Wire):
    return_id: Id
    lines: list[ReservationLineIn] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_lines(self) -> ReservationIn:
        if len({line.line_id for line in self.lines}) != len(self.lines):
            raise ValueError("line_id values must be unique")
        return self


class ReservedLine(Wire):
    line_id: str
    requested: int
    reserved: int


class Reservation(Wire):
    order_id: str
    return_id: str
    lines: list[ReservedLine]
    released: bool = False


class RestockIn(Wire):
    sku: Id
    quantity: Quantity
    reference: Id


class Restock(RestockIn):
    id: str
    reversed: bool = False


class Product(Wire):
    """A product of the catalog; products of one family are variants of each other (sizes, colours)."""

    sku: Id
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    family: Id


class Variant(Wire):
    sku: str
    title: str
    on_hand: int


class Variants(Wire):
    sku: str
    variants: list[Variant]


class StockLevel(Wire):
    sku: str
    on_hand: int


class WorkOrderIn(Wire):
    return_id: Id
    line_id: Id
    sku: Id
    quantity: Quantity


class WorkOrder(WorkOrderIn):
    id: str
    kind: str
    status: Literal["open", "completed"] = "open"
    completed_by: str | None = None


class CompletionIn(Wire):
    completed_by: Id


class StoreCreditIn(Wire):
    customer_id: Id
    amount: int = Field(ge=1, description="minor units")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    reference: Id


class StoreCredit(StoreCreditIn):
    id: str


class StoreCreditBalance(Wire):
    customer_id: str
    balances: dict[str, int]  # currency -> minor units


class ExchangeOrderIn(Wire):
    order_id: Id
    customer_id: Id
    sku: Id
    quantity: Quantity
    reference: Id


class ExchangeOrder(ExchangeOrderIn):
    id: str


class NotificationIn(Wire):
    customer_id: Id
    return_id: Id
    kind: Id
    detail: str = Field(max_length=2000)


class Notification(NotificationIn):
    id: str


class ShopError(Exception):
    """An answer in the API's error shape: `{"error": code, "message": ..., **details}`."""

    def __init__(self, status: int, error: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": error, "message": message, **details}


def not_found(what: str, identifier: str) -> ShopError:
    return ShopError(404, f"{what}_not_found", f"unknown {what}: {identifier}", id=identifier)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


@dataclass(frozen=True)
class IdempotentCall:
    key: str
    path: str


def idempotent_call(
    request: Request, idempotency_key: Annotated[str, Header(min_length=1, max_length=255)]
) -> IdempotentCall:
    return IdempotentCall(idempotency_key, request.url.path)


Call = Annotated[IdempotentCall, Depends(idempotent_call)]  # module level: routes' annotations are strings


class ShopState:
    """Everything the sandbox knows. Public methods take the (re-entrant) lock, and every
    record is frozen and replaced on change, so what a method returns is never mutated."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.orders: dict[str, Order] = {}
        self.return_counts: Counter[str] = Counter()  # customer -> returns started, any order
        self.stock: Counter[str] = Counter()
        self.products: dict[str, Product] = {}
        # key -> (request, answer); answers are of many types, each replayed by its own route
        self.replies: dict[str, tuple[tuple[str, str], Any]] = {}
        self.reservations: dict[tuple[str, str], Reservation] = {}  # (order, return) -> reservation
        self.restocks: dict[str, Restock] = {}
        self.work_orders: dict[str, WorkOrder] = {}
        self.store_credits: dict[str, StoreCredit] = {}
        self.exchange_orders: dict[str, ExchangeOrder] = {}
        self.notifications: dict[str, Notification] = {}

    def records(self) -> dict[str, dict[Any, Any]]:
        """The collections the admin API lists, by name."""
        return {
            "reservations": self.reservations,
            "restocks": self.restocks,
            "work_orders": self.work_orders,
            "store_credits": self.store_credits,
            "exchange_orders": self.exchange_orders,
            "notifications": self.notifications,
        }

    def reset(self) -> None:
        with self.lock:
            # Cleared in place: the admin routes hold references to these collections.
            collections = (self.orders, self.return_counts, self.stock, self.products, self.replies)
            for collection in (*collections, *self.records().values()):
                collection.clear()

    def once(self, call: IdempotentCall, body: BaseModel | None, effect: Callable[[], T]) -> T:
        """Runs `effect` once per idempotency key; the lock is held throughout, so two
        concurrent requests with one key cannot both run it."""
        request = (call.path, body.model_dump_json() if body else "")
        with self.lock:
            if call.key in self.replies:
                earlier, answer = self.replies[call.key]
                if earlier != request:
                    raise ShopError(
                        409, "idempotency_key_reused", f"Idempotency-Key {call.key!r} was used with another request"
                    )
                return answer
            answer = effect()
            self.replies[call.key] = (request, answer)
            return answer

    # -- orders and reservations -----------------------------------------------------

    def seed_order(self, order: Order) -> None:
        with self.lock:
            self.orders[order.order_id] = order
            self.return_counts[order.customer_id] = order.customer_return_count

    def customers_with_email(self, email: str) -> list[Customer]:
        with self.lock:
            found = {
                order.customer_id
                for order in self.orders.values()
                if (order.customer_email or "").casefold() == email.casefold()
            }
        return [Customer(customer_id=customer_id) for customer_id in sorted(found)]

    def daily_sales(self, start: date, end: date) -> list[DailySales]:
        if not start < end or (end - start).days > MOST_SALES_DAYS:
            raise ShopError(400, "invalid_range", f"start must be before end, at most {MOST_SALES_DAYS} days apart")
        units: dict[tuple[date, str, str, str], int] = {}
        with self.lock:
            for order in self.orders.values():
                sold_at = order.placed_at or order.delivered_at
                if sold_at is None or not start <= sold_at.date() < end:
                    continue
                for line in order.lines:
                    key = (sold_at.date(), line.sku, line.category, order.currency)
                    units[key] = units.get(key, 0) + line.quantity
        return [
            DailySales(day=d, sku=sku, category=cat, currency=cur, units=n)
            for (d, sku, cat, cur), n in sorted(units.items())
        ]

    def reservations_of(self, order_id: str) -> list[Reservation]:
        with self.lock:
            self.order(order_id)
            return [reservation for (order, _), reservation in self.reservations.items() if order == order_id]

    def reservation(self, order_id: str, return_id: str) -> Reservation:
        with self.lock:
            reservation = self.reservations.get((order_id, return_id))
            if reservation is None:
                raise not_found("reservation", return_id)
            return reservation

    def order(self, order_id: str) -> Order:
        with self.lock:
            if order_id not in self.orders:
                raise not_found("order", order_id)
            order = self.orders[order_id]
            return order.model_copy(update={"customer_return_count": self.return_counts[order.customer_id]})

    def reserve(self, order_id: str, body: ReservationIn) -> Reservation:
        with self.lock:
            order = self.order(order_id)
            existing = self.reservations.get((order_id, body.return_id))
            if existing is not None and not existing.released:
                return existing  # one reservation per return, whatever the key or body
            if existing is None:  # a return counts once, even if reserved again after a release
                self.return_counts[order.customer_id] += 1
            bought = {line.line_id: line.quantity for line in order.lines}
            held_by_others: Counter[str] = Counter()
            for (other_order, other_return), reservation in self.reservations.items():
                if other_order == order_id and other_return != body.return_id and not reservation.released:
                    held_by_others.update({line.line_id: line.reserved for line in reservation.lines})
            lines = [
                ReservedLine(
                    line_id=line.line_id,
                    requested=line.quantity,
                    reserved=max(0, min(line.quantity, bought.get(line.line_id, 0) - held_by_others[line.line_id])),
                )
                for line in body.lines
            ]
            reservation = Reservation(order_id=order_id, return_id=body.return_id, lines=lines)
            self.reservations[(order_id, body.return_id)] = reservation
            return reservation

    def release(self, order_id: str, return_id: str) -> None:
        with self.lock:
            reservation = self.reservations.get((order_id, return_id))
            if reservation is not None:
                self.reservations[(order_id, return_id)] = reservation.model_copy(update={"released": True})

    # -- inventory -------------------------------------------------------------------

    def set_stock(self, levels: dict[str, int]) -> None:
        with self.lock:
            for sku, on_hand in levels.items():
                self.stock[sku] = on_hand

    def variants(self, sku: str) -> Variants:
        """The product's family, itself included, with what is on hand (a SKU outside the catalog: itself)."""
        with self.lock:
            product = self.products.get(sku)
            family = [p for p in self.products.values() if product and p.family == product.family]
            family = family or [Product(sku=sku, title=sku, family=sku)]
            return Variants(
                sku=sku, variants=[Variant(sku=p.sku, title=p.title, on_hand=self.stock[p.sku]) for p in family]
            )

    def stock_level(self, sku: str) -> StockLevel:
        with self.lock:
            return StockLevel(sku=sku, on_hand=self.stock[sku])

    def restock(self, body: RestockIn) -> Restock:
        with self.lock:
            restock = Restock(id=new_id("rs"), **body.model_dump())
            self.restocks[restock.id] = restock
            self.stock[restock.sku] += restock.quantity
            return restock

    def reverse_restock(self, restock_id: str) -> Restock:
        with self.lock:
            restock = self.restocks.get(restock_id)
            if restock is None:
                raise not_found("restock", restock_id)
            if not restock.reversed:
                # May go below zero: the units were sold meanwhile, and the shop reconciles.
                self.stock[restock.sku] -= restock.quantity
                restock = restock.model_copy(update={"reversed": True})
                self.restocks[restock_id] = restock
            return restock

    def restocks_for(self, reference: str | None) -> list[Restock]:
        with self.lock:
            return [r for r in self.restocks.values() if reference is None or r.reference == reference]

    # -- disposition work orders -----------------------------------------------------

    def create_work_order(self, kind: str, body: WorkOrderIn) -> WorkOrder:
        with self.lock:
            work_order = WorkOrder(id=new_id("wo"), kind=kind, **body.model_dump())
            self.work_orders[work_order.id] = work_order
            return work_order

    def work_order(self, work_order_id: str, kind: str | None = None) -> WorkOrder:
        with self.lock:
            work_order = self.work_orders.get(work_order_id)
            if work_order is None or kind not in (None, work_order.kind):
                raise not_found("work_order", work_order_id)
            return work_order

    def complete_work_order(self, work_order_id: str, body: CompletionIn) -> WorkOrder:
        with self.lock:
            work_order = self.work_order(work_order_id)
            if work_order.status == "open":  # the first confirmation stands
                work_order = work_order.model_copy(update={"status": "completed", "completed_by": body.completed_by})
                self.work_orders[work_order_id] = work_order
            return work_order

    # -- store credit, exchanges, notifications -------------------------------------

    def issue_store_credit(self, body: StoreCreditIn) -> StoreCredit:
        with self.lock:
            credit = StoreCredit(id=new_id("sc"), **body.model_dump())
            self.store_credits[credit.id] = credit
            return credit

    def store_credit_balance(self, customer_id: str) -> StoreCreditBalance:
        with self.lock:
            balances: Counter[str] = Counter()
            for credit in self.store_credits.values():
                if credit.customer_id == customer_id:
                    balances[credit.currency] += credit.amount
            return StoreCreditBalance(customer_id=customer_id, balances=dict(balances))

    def create_exchange_order(self, body: ExchangeOrderIn) -> ExchangeOrder:
        with self.lock:
            self.order(body.order_id)  # a replacement belongs to a known order
            on_hand = self.stock[body.sku]
            if on_hand < body.quantity:
                raise ShopError(409, "out_of_stock", f"{on_hand} of {body.sku} on hand", sku=body.sku, on_hand=on_hand)
            self.stock[body.sku] -= body.quantity
            exchange = ExchangeOrder(id=new_id("xo"), **body.model_dump())
            self.exchange_orders[exchange.id] = exchange
            return exchange

    def notify(self, body: NotificationIn) -> Notification:
        with self.lock:
            notification = Notification(id=new_id("nt"), **body.model_dump())
            self.notifications[notification.id] = notification
            return notification


def create_app() -> FastAPI:
    app = FastAPI(title="Shop platform sandbox")
    state = ShopState()
    app.state.shop = state
    faults = install_faults(app, lambda status: {"error": "sandbox_fault", "message": f"injected fault: HTTP {status}"})

    @app.exception_handler(ShopError)
    async def shop_error(_: Request, error: ShopError) -> JSONResponse:
        return JSONResponse(error.body, status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        # The API's error shape, so a client reads one `error` field whatever went wrong.
        body = {"error": "invalid_request", "message": "the request is invalid", "detail": error.errors()}
        return JSONResponse(jsonable_encoder(body), status_code=422)

    api = APIRouter(prefix="/v1")

    @api.get("/orders/{order_id}")
    def get_order(order_id: str) -> Order:
        return state.order(order_id)

    @api.get("/customers")
    def customers(email: Annotated[str, Query(min_length=3, max_length=254)]) -> list[Customer]:
        """The customers whose orders carry this email (any case): how an operator finds a shopper."""
        return state.customers_with_email(email)

    @api.get("/sales/daily")
    def daily_sales(start: date, end: date) -> list[DailySales]:
        """Units sold per day, SKU and currency with start <= day < end (at most a year)."""
        return state.daily_sales(start, end)

    @api.get("/orders/{order_id}/return_reservations")
    def reservations(order_id: str) -> list[Reservation]:
        """Every return's reservation of the order, released or not."""
        return state.reservations_of(order_id)

    @api.post("/orders/{order_id}/return_reservations", status_code=201)
    def reserve(order_id: str, body: ReservationIn, call: Call) -> Reservation:
        return state.once(call, body, lambda: state.reserve(order_id, body))

    @api.get("/orders/{order_id}/return_reservations/{return_id}")
    def reservation(order_id: str, return_id: str) -> Reservation:
        """A return's reservation, released or not: the record that the return id was used."""
        return state.reservation(order_id, return_id)

    @api.delete("/orders/{order_id}/return_reservations/{return_id}", status_code=204)
    def release(order_id: str, return_id: str) -> None:
        state.release(order_id, return_id)

    @api.get("/products/{sku}/variants")
    def variants(sku: str) -> Variants:
        return state.variants(sku)

    @api.get("/stock/{sku}")
    def stock_level(sku: str) -> StockLevel:
        return state.stock_level(sku)

    @api.post("/restocks", status_code=201)
    def restock(body: RestockIn, call: Call) -> Restock:
        return state.once(call, body, lambda: state.restock(body))

    @api.get("/restocks")
    def list_restocks(reference: str | None = None) -> list[Restock]:
        return state.restocks_for(reference)

    @api.post("/restocks/{restock_id}/reversal")
    def reverse_restock(restock_id: str, call: Call) -> Restock:
        return state.once(call, None, lambda: state.reverse_restock(restock_id))

    def add_work_order_routes(kind: str, collection: str) -> None:
        @api.post(f"/{collection}", status_code=201, name=f"create_{kind}")
        def create(body: WorkOrderIn, call: Call) -> WorkOrder:
            return state.once(call, body, lambda: state.create_work_order(kind, body))

        @api.get(f"/{collection}/{{work_order_id}}", name=f"get_{kind}")
        def get(work_order_id: str) -> WorkOrder:
            return state.work_order(work_order_id, kind)

    for kind, collection in WORK_ORDER_COLLECTIONS.items():
        add_work_order_routes(kind, collection)

    @api.post("/work_orders/{work_order_id}/completion")
    def complete_work_order(work_order_id: str, body: CompletionIn, call: Call) -> WorkOrder:
        return state.once(call, body, lambda: state.complete_work_order(work_order_id, body))

    @api.post("/store_credits", status_code=201)
    def issue_store_credit(body: StoreCreditIn, call: Call) -> StoreCredit:
        return state.once(call, body, lambda: state.issue_store_credit(body))

    @api.get("/customers/{customer_id}/store_credit")
    def store_credit_balance(customer_id: str) -> StoreCreditBalance:
        return state.store_credit_balance(customer_id)

    @api.post("/exchange_orders", status_code=201)
    def create_exchange_order(body: ExchangeOrderIn, call: Call) -> ExchangeOrder:
        return state.once(call, body, lambda: state.create_exchange_order(body))

    @api.post("/notifications", status_code=201)
    def notify(body: NotificationIn, call: Call) -> Notification:
        return state.once(call, body, lambda: state.notify(body))

    app.include_router(api)

    admin = APIRouter(prefix=ADMIN_PREFIX, tags=["sandbox admin"])

    @admin.post("/orders", status_code=204)
    def seed_order(order: Order) -> None:
        state.seed_order(order)

    @admin.post("/products", status_code=204)
    def add_products(products: list[Product]) -> None:
        with state.lock:
            state.products.update({product.sku: product for product in products})

    @admin.post("/stock", status_code=204)
    def set_stock(levels: dict[str, Annotated[int, Field(ge=0)]]) -> None:
        state.set_stock(levels)

    def lister(collection: dict[Any, Any]) -> Callable[[], list[Any]]:
        def list_all() -> list[Any]:
            with state.lock:
                return list(collection.values())

        return list_all

    for name, collection in state.records().items():
        admin.add_api_route(f"/{name}", lister(collection), methods=["GET"], name=f"all_{name}")

    @admin.post("/reset", status_code=204)
    def reset() -> None:
        state.reset()
        faults.clear()

    app.include_router(admin)
    return app
