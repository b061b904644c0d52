"""A signed, HttpOnly, SameSite session cookie that expires, its CSRF token, and the headers every
page is answered with. Signed, not encrypted: a session holds nothing its holder may not read."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

CSRF_FIELD = "csrf_token"


def fresh_session(**values: Any) -> dict[str, Any]:
    """A new session with its own CSRF token (a sign-in starts one: no token outlives its session)."""
    return {"csrf": secrets.token_urlsafe(24), **values}


@dataclass(frozen=True)
class SessionCookie:
    """One app's session cookie: its name, path, lifetime and signing secret (and salt)."""

    name: str
    path: str
    secret: str
    seconds: int

    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret, salt=self.name)

    def load(self, request: Request) -> dict[str, Any]:
        """The request's session; a fresh one when absent, forged or expired."""
        cookie = request.cookies.get(self.name)
        if cookie:
            try:
                session = self._serializer().loads(cookie, max_age=self.seconds)
                if isinstance(session, dict) and isinstance(session.get("csrf"), str):
                    return session
            except BadSignature:  # SignatureExpired is one
                pass
        return fresh_session()

    def save(self, request: Request, response: Response, session: dict[str, Any]) -> None:
        response.set_cookie(
            self.name,
            self._serializer().dumps(session),
            max_age=self.seconds,
            path=self.path,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )


def csrf_matches(session: dict[str, Any], sent: object) -> bool:
    return isinstance(sent, str) and bool(sent) and hmac.compare_digest(sent, session["csrf"])


def secure_page(response: Response, image_origin: str | None = None) -> Response:
    """The headers of a page that runs no script and may not be framed, cached or referred from."""
    images = " ".join(filter(None, ["'self'", image_origin]))
    response.headers.update(
        {
            "Content-Security-Policy": (
                f"default-src 'none'; style-src 'self'; img-src {images}; form-action 'self';"
                " frame-ancestors 'none'; base-uri 'none'"
            ),
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-store",
        }
    )
    return response
