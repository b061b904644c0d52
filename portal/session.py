"""The portal's session (a signed, HttpOnly, SameSite cookie), its CSRF token and the signed status links.

The session holds only what the shopper typed and chose (the order they named, with the email or
postal code that names it, and their draft): every page asks the shop platform and the return's
workflow again, so nothing in the cookie is believed about money or state. Signed, not encrypted:
it tells its holder nothing they did not type themselves.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from integrations.settings import Settings
from web.session import SessionCookie


class LinkExpired(Exception):
    """A status link that was genuine but is too old."""


class LinkInvalid(Exception):
    """A status link this portal never signed."""


@dataclass
class Signer:
    """Signs sessions and status links with the portal's secret (one per process when unset)."""

    secret: str
    session_seconds: int
    link_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer:
        secret = settings.portal_secret.get_secret_value() if settings.portal_secret else secrets.token_urlsafe(32)
        return cls(secret, settings.portal_session_minutes * 60, settings.portal_status_link_days * 86_400)

    @property
    def _cookie(self) -> SessionCookie:
        return SessionCookie("portal_session", "/portal", self.secret, self.session_seconds)

    def status_link_token(self, return_id: str) -> str:
        return self._links().dumps(return_id)

    def return_of(self, token: str) -> str:
        """The return a status link names; LinkExpired or LinkInvalid otherwise."""
        try:
            return self._links().loads(token, max_age=self.link_seconds)
        except SignatureExpired as error:
            raise LinkExpired from error
        except BadSignature as error:
            raise LinkInvalid from error

    def _links(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret, salt="portal-status-link")

    def load_session(self, request: Request) -> dict[str, Any]:
        """The request's session; a fresh one (with its CSRF token) when absent, forged or expired."""
        return self._cookie.load(request)

    def save_session(self, request: Request, response: Response, session: dict[str, Any]) -> None:
        self._cookie.save(request, response, session)
