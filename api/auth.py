"""Who calls: an API key per holder, stored hashed, compared in constant time.

Each key names its holder and role (integrations/settings.py: ApiKeyGrant), so the timeline
records who acted from the credential, never from what the request says: `operator:kim`. Only
a system's key (a storefront backend, a warehouse system) may say whom it acts for, in
`X-Actor` or the body; the timeline then keeps both, `warehouse:wms-1 for dock-7`. A key that
names a shop reaches only that shop's returns (starter/shops.py); a return outside its shop is
answered as unknown.

The request log records each caller's role and key id (the first 12 hex digits of the key's
hash), never the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import TypeAdapter

from integrations.settings import ApiKeyGrant, KeyHash, Settings
from starter.client import ActorName, actor_id
from starter.errors import InvalidReturnInput, ReturnNotFoundError
from starter.shops import belongs_to_shop

API_KEY_HEADER = "X-API-Key"
ACTOR_HEADER = "X-Actor"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# The holder the old one-key-per-role settings (API_KEY_<ROLE>) act as.
SHARED_HOLDER = "shared"


class Role(StrEnum):
    storefront = "storefront"
    warehouse = "warehouse"
    operator = "operator"


def key_hash(key: str) -> str:
    """What the settings keep of a key. Keys are long and random, so a plain SHA-256 suffices."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    """Whose key a request carries."""

    role: Role
    holder: str
    key_id: str
    system: bool
    shop: str | None

    def actor(self, named: str | None) -> str:
        """Who acts, as the timeline records it. A person's key acts as its holder, and can't name
        anyone else; a system's key may name whom it acts for."""
        if named is None or (named == self.holder and not self.system):
            return actor_id(self.role.value, self.holder)
        if not self.system:
            raise InvalidReturnInput(
                "actor", f"this key is {self.holder}'s own: it acts as {self.holder}, not as {named!r}"
            )
        return actor_id(self.role.value, self.holder, on_behalf_of=named)

    def may_see(self, return_id: str) -> bool:
        return belongs_to_shop(return_id, self.shop)

    @property
    def update_scope(self) -> str:
        """What makes one caller's idempotency keys its own: another caller's same key is another action."""
        return f"key-{self.key_id}"


class KeyRing:
    """The configured keys, by hash. A lookup compares the presented key's hash with every
    configured one (hmac.compare_digest), so its time tells nothing about which keys exist."""

    def __init__(self, grants: dict[str, ApiKeyGrant]):
        self._grants = grants

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        grants = dict(settings.api_keys)
        if settings.api_keys_file:
            text = Path(settings.api_keys_file).read_text()
            grants |= TypeAdapter(dict[KeyHash, ApiKeyGrant]).validate_json(text)
        for role in Role:
            shared = getattr(settings, f"api_key_{role.value}")
            if shared is not None:
                grants[key_hash(shared.get_secret_value())] = ApiKeyGrant(
                    role=role.value, holder=SHARED_HOLDER, system=True
                )
        return cls(grants)

    def caller(self, key: str | None) -> Caller | None:
        if not key:
            return None
        presented = key_hash(key).encode()
        found = None
        for known, grant in self._grants.items():
            if hmac.compare_digest(presented, known.encode()):
                found = Caller(Role(grant.role), grant.holder, known[:12], grant.system, grant.shop)
        return found

    def still_admits(self, caller: Caller) -> bool:
        """Whether the key a caller signed in with is still configured, with the same grant (a
        session of a revoked key ends at its next request)."""
        return any(
            known.startswith(caller.key_id)
            and Caller(Role(grant.role), grant.holder, known[:12], grant.system, grant.shop) == caller
            for known, grant in self._grants.items()
        )


def new_key_entry(role: Role, holder: str, *, system: bool = False, shop: str | None = None) -> tuple[str, str]:
    """A fresh random key and its API_KEYS entry (JSON): give the key to its holder, keep the entry."""
    key = secrets.token_urlsafe(32)
    grant = ApiKeyGrant(role=role.value, holder=holder, system=system, shop=shop)
    return key, json.dumps({key_hash(key): grant.model_dump(exclude_defaults=True)})


_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="your API key")


class Admit:
    """A dependency that admits callers whose key has one of `roles`; answers the Caller."""

    def __init__(self, *roles: Role):
        self.roles = roles

    async def __call__(self, request: Request, key: Annotated[str | None, Security(_api_key)]) -> Caller:
        caller = request.app.state.keys.caller(key)
        if caller is None:
            raise HTTPException(401, f"missing or unknown {API_KEY_HEADER}")
        request.state.caller = caller  # for the request log (api/middleware.py)
        if caller.role not in self.roles:
            raise HTTPException(403, f"the {caller.role.value} role may not do this")
        return caller


AnyRole = Annotated[Caller, Depends(Admit(*Role))]
ShopOrOperator = Annotated[Caller, Depends(Admit(Role.storefront, Role.operator))]
Storefront = Annotated[Caller, Depends(Admit(Role.storefront))]
Warehouse = Annotated[Caller, Depends(Admit(Role.warehouse))]
Operator = Annotated[Caller, Depends(Admit(Role.operator))]

ActorHeader = Annotated[
    ActorName | None,
    Header(alias=ACTOR_HEADER, description="whom a system's key acts for (refused from a person's key)"),
]
IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        pattern=r"^[A-Za-z0-9._:-]{1,64}$",
        description="the same action sent again with the same key is answered, never applied twice",
    ),
]


def update_id(caller: Caller, action: str, idempotency_key: str | None) -> str | None:
    """The Temporal update id of an action: the caller's key scoped by caller and action."""
    return f"{action}:{caller.update_scope}:{idempotency_key}" if idempotency_key else None


def visible_return(caller: Caller, return_id: str) -> str:
    """The return id, if the caller's key may reach it; a return of another shop is unknown to it."""
    if not caller.may_see(return_id):
        raise ReturnNotFoundError(return_id)
    return return_id
