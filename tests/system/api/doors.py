"""The stack's doors as the tests knock on them: HTTP with a role's key, signed webhooks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
from temporalio.service import RPCError, RPCStatusCode

from devstack.checkout import SHOPPER_EMAIL, charge_shopper, demo_order, demo_request, seed_order
from devstack.demo import ApiReturns, role_headers
from devstack.polling import wait_for_stage
from devstack.stack import LOCAL_KEYS, LocalStack
from starter.client import ReturnsClient
from workflows.contract import workflow_id_for
from workflows.models import ReturnRequest, ReturnStatus
from workflows.vocabulary import Stage

T = TypeVar("T")
ROLES = ("storefront", "warehouse", "operator")


class Doors:
    def __init__(self, stack: LocalStack, http: httpx.AsyncClient):
        self.stack = stack
        self.http = http

    @classmethod
    @asynccontextmanager
    async def open(cls, stack: LocalStack) -> AsyncIterator[Doors]:
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
            yield cls(stack, http)

    def headers(self, role: str, actor: str | None = "tester") -> dict[str, str]:
        """The first local key of `role` (devstack/stack.py: LOCAL_KEYS); a system's key names `actor`."""
        return role_headers(self.stack.settings, role, actor)

    def key_of(self, holder: str, actor: str | None = None) -> dict[str, str]:
        """The local key of one holder (`kim`, `dock-3`, `acme-web`...), naming `actor` if given."""
        key = next(key for key, grant in LOCAL_KEYS.items() if grant.holder == holder)
        return {"X-API-Key": key} | ({"X-Actor": actor} if actor else {})

    async def new_request(
        self, order_changes: dict[str, object] | None = None, email: str = SHOPPER_EMAIL, **changes: object
    ) -> ReturnRequest:
        """A request for a freshly seeded and paid order (not started), the order carrying `email`."""
        return_id = f"T-{uuid.uuid4().hex[:10]}"
        settings = self.stack.settings
        request = demo_request(return_id, await charge_shopper(settings), **changes)
        order = demo_order(request.order_id, request.customer_id, paid_with=request.payment_intent_id)
        await seed_order(settings, order.model_copy(update=order_changes or {}), email=email)
        return request

    async def start(self, request: ReturnRequest) -> httpx.Response:
        return await self.http.post(
            "/v1/returns", json=request.model_dump(mode="json"), headers=self.headers("storefront")
        )

    async def started(
        self,
        stage: Stage = Stage.label_issued,
        order_changes: dict[str, object] | None = None,
        email: str = SHOPPER_EMAIL,
        **changes: object,
    ) -> ReturnStatus:
        """A new return, started through the API and waited for until `stage`; a 503 (a worker just
        replaced, not polling yet) is tried again after its Retry-After, as a storefront does."""
        request = await self.new_request(order_changes, email, **changes)
        deadline = asyncio.get_running_loop().time() + 60
        while (response := await self.start(request)).status_code == 503:
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
        response.raise_for_status()
        return await self.wait_for(request.return_id, stage)

    async def wait_for(self, return_id: str, stage: Stage) -> ReturnStatus:
        return await wait_for_stage(ApiReturns(self.http, self.headers("storefront")), return_id, stage)

    async def status(self, return_id: str) -> ReturnStatus:
        return await ApiReturns(self.http, self.headers("operator")).status(return_id)

    async def act(self, role: str, return_id: str, action: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(f"/v1/returns/{return_id}/{action}", json=body, headers=self.headers(role))


async def exists(returns: ReturnsClient, return_id: str) -> bool:
    """Whether a workflow was ever started for this return (describe is strongly consistent)."""
    try:
        await returns.temporal.get_workflow_handle(workflow_id_for(return_id)).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def eventually(probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout: float = 10) -> T:
    """Probes until `accept` holds (visibility is eventually consistent); answers the last probe."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if accept(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.2)
