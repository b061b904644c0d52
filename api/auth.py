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

import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import structlog
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

log = structlog.get_logger(__name__)


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
    configured one (hmac.compare_digest), so its time tells nothing about which keys exist.

    API_KEYS_FILE is read again whenever it changes (one stat per lookup), so a key added to it works,
    and a key removed from it stops working, at the next request of every API process: no restart."""

    def __init__(
        self,
        grants: dict[str, ApiKeyGrant],
        keys_file: Path | None = None,
        shared: dict[str, ApiKeyGrant] | None = None,
    ):
        self._configured = grants
        self._shared = shared or {}
        self._file = keys_file
        self._file_version: tuple[int, int, int] | None = None
        self._grants = self._merged({})
        if keys_file is not None:
            self._file_version = _version(keys_file)  # before reading: a change meanwhile is read next time
            self._grants = self._merged(read_key_file(keys_file))  # a bad file stops the start

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        shared = {}
        for role in Role:
            key = getattr(settings, f"api_key_{role.value}")
            if key is not None:
                shared[key_hash(key.get_secret_value())] = ApiKeyGrant(
                    role=role.value, holder=SHARED_HOLDER, system=True
                )
        keys_file = Path(settings.api_keys_file) if settings.api_keys_file else None
        return cls(dict(settings.api_keys), keys_file, shared)

    def caller(self, key: str | None) -> Caller | None:
        if not key:
            return None
        presented = key_hash(key).encode()
        found = None
        for known, grant in self._current().items():
            if hmac.compare_digest(presented, known.encode()):
                found = Caller(Role(grant.role), grant.holder, known[:12], grant.system, grant.shop)
        return found

    def still_admits(self, caller: Caller) -> bool:
        """Whether the key a caller signed in with is still configured, with the same grant (a
        session of a revoked key ends at its next request)."""
        return any(
            known.startswith(caller.key_id)
            and Caller(Role(grant.role), grant.holder, known[:12], grant.system, grant.shop) == caller
            for known, grant in self._current().items()
        )

    def _merged(self, from_file: dict[str, ApiKeyGrant]) -> dict[str, ApiKeyGrant]:
        """The settings' keys, the file's over them, the shared per-role keys over both."""
        return {**self._configured, **from_file, **self._shared}

    def _current(self) -> dict[str, ApiKeyGrant]:
        if self._file is None:
            return self._grants
        version = _version(self._file)
        if version != self._file_version:
            try:
                from_file = read_key_file(self._file) if version is not None else {}
            except (OSError, ValueError) as error:  # keep the keys last read rather than drop them all
                log.error(
                    "API keys file unreadable; keeping the keys last read", path=str(self._file), error=str(error)
                )
            else:
                self._grants = self._merged(from_file)
                self._file_version = version
                log.info("API keys file read", path=str(self._file), keys=len(from_file))
        return self._grants


def _version(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file does (a replaced file has a new inode); None: no file."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


_KEY_FILE = TypeAdapter(dict[KeyHash, ApiKeyGrant])


def read_key_file(path: Path) -> dict[str, ApiKeyGrant]:
    return _KEY_FILE.validate_json(path.read_text())


class KeyFile:
    """An API_KEYS_FILE edited in place: keys added and revoked by holder. It keeps hashes only; each
    write replaces the file whole (a reader never sees half of one)."""

    def __init__(self, path: Path):
        self.path = path

    def grants(self) -> dict[str, ApiKeyGrant]:
        return read_key_file(self.path) if self.path.exists() else {}

    def add(self, role: Role, holder: str, *, system: bool = False, shop: str | None = None) -> str:
        """A new key for `holder`, kept beside any they hold already (rotation: revoke the old one after);
        answers the key itself, which nothing keeps."""
        key, grant = _new_key(role, holder, system=system, shop=shop)
        with self._editing():
            self._write({**self.grants(), key_hash(key): grant})
        return key

    def revoke(self, holder: str) -> int:
        """Removes every key of `holder`; answers how many there were."""
        with self._editing():
            held = self.grants()
            kept = {known: grant for known, grant in held.items() if grant.holder != holder}
            if len(kept) < len(held):
                self._write(kept)
        return len(held) - len(kept)

    def ensure(self) -> None:
        """Creates the file, holding no keys, if there is none."""
        with self._editing():
            if not self.path.exists():
                self._write({})

    @contextmanager
    def _editing(self) -> Iterator[None]:
        """One editor at a time (two people adding keys at once must not lose one)."""
        with self.path.with_name(f".{self.path.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _write(self, grants: dict[str, ApiKeyGrant]) -> None:
        entries = {known: grant.model_dump(exclude_defaults=True) for known, grant in grants.items()}
        fresh = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        fresh.touch(mode=0o600)
        fresh.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
        os.replace(fresh, self.path)


def _new_key(role: Role, holder: str, *, system: bool, shop: str | None) -> tuple[str, ApiKeyGrant]:
    return secrets.token_urlsafe(32), ApiKeyGrant(role=role.value, holder=holder, system=system, shop=shop)


def new_key_entry(role: Role, holder: str, *, system: bool = False, shop: str | None = None) -> tuple[str, str]:
    """A fresh random key and its API_KEYS entry (JSON): give the key to its holder, keep the entry."""
    key, grant = _new_key(role, holder, system=system, shop=shop)
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
