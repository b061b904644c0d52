"""Local stand-in for the shop's inventory service: records restocks, once per key."""

from __future__ import annotations

import secrets
import threading
from collections import Counter

from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel, Field

from integrations.sandboxes.faults import install_faults


class RestockIn(BaseModel):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=100_000)
    reference: str = Field(min_length=1, max_length=128)


class Restock(RestockIn):
    id: str


class InventoryState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.restocks: list[Restock] = []
        self.by_key: dict[str, tuple[RestockIn, Restock]] = {}

    def on_hand(self) -> Counter[str]:
        with self.lock:
            counts: Counter[str] = Counter()
            for restock in self.restocks:
                counts[restock.sku] += restock.quantity
            return counts


def create_app() -> FastAPI:
    app = FastAPI(title="Inventory sandbox")
    state = InventoryState()
    app.state.inventory = state
    install_faults(app, lambda status: {"error": f"injected fault {status}"})

    @app.post("/v1/restocks", status_code=201)
    def restock(body: RestockIn, idempotency_key: str = Header(min_length=1, max_length=255)) -> Restock:
        with state.lock:
            if idempotency_key in state.by_key:
                earlier_body, earlier = state.by_key[idempotency_key]
                if earlier_body != body:
                    raise HTTPException(409, "Idempotency-Key reused with a different body")
                return earlier
            created = Restock(id=f"rs_{secrets.token_hex(8)}", **body.model_dump())
            state.restocks.append(created)
            state.by_key[idempotency_key] = (body, created)
            return created

    @app.get("/v1/restocks")
    def list_restocks(reference: str | None = None) -> list[Restock]:
        with state.lock:
            return [r for r in state.restocks if reference is None or r.reference == reference]

    @app.get("/v1/stock")
    def stock() -> dict[str, int]:
        return dict(state.on_hand())

    @app.post("/_sandbox/reset", status_code=204)
    def reset() -> None:
        with state.lock:
            state.restocks.clear()
            state.by_key.clear()

    return app
