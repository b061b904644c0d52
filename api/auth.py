"""Who calls: one API key per role, compared in constant time; an unset key admits nobody."""

from __future__ import annotations

import hmac
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

from integrations.settings import Settings
from starter.client import ActorName, actor_id
from starter.errors import InvalidReturnInput

API_KEY_HEADER = "X-API-Key"
ACTOR_HEADER = "X-Actor"


class Role(StrEnum):
    storefront = "storefront"
    warehouse = "warehouse"
    operator = "operator"


_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="the API key of one role")


def _role_of(key: str | None, settings: Settings) -> Role | None:
    if not key:
        return None
    matched = None
    for role in Role:
        expected: SecretStr | None = getattr(settings, f"api_key_{role.value}")
        # Compared against every configured key, in constant time: timing tells nothing.
        if expected is not None and hmac.compare_digest(key.encode(), expected.get_secret_value().encode()):
            matched = role
    return matched


class Admit:
    """A dependency that admits callers whose API key belongs to one of `roles`; answers the role."""

    def __init__(self, *roles: Role):
        self.roles = roles

    async def __call__(self, request: Request, key: Annotated[str | None, Security(_api_key)]) -> Role:
        role = _role_of(key, request.app.state.settings)
        if role is None:
            raise HTTPException(401, f"missing or unknown {API_KEY_HEADER}")
        if role not in self.roles:
            raise HTTPException(403, f"the {role.value} role may not do this")
        return role


AnyRole = Annotated[Role, Depends(Admit(*Role))]
ShopOrOperator = Annotated[Role, Depends(Admit(Role.storefront, Role.operator))]
Storefront = Annotated[Role, Depends(Admit(Role.storefront))]
Warehouse = Annotated[Role, Depends(Admit(Role.warehouse))]
Operator = Annotated[Role, Depends(Admit(Role.operator))]

ActorHeader = Annotated[ActorName | None, Header(alias=ACTOR_HEADER, description="who acts, when the body doesn't say")]


def actor_of(role: Role, named_in_body: str | None, header: str | None) -> str:
    """Who acts, as the timeline names them: `<role>:<name>` (the name from the body, else the header)."""
    name = named_in_body or header
    if name is None:
        raise InvalidReturnInput("actor", f"say who acts: in the body or the {ACTOR_HEADER} header")
    return actor_id(role.value, name)
