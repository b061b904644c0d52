"""The operations console's core: its router, session, sign-in check and role check.

The console lives under /console: server-rendered (Jinja2), no JavaScript, every form
posted with its CSRF token and answered with a redirect (303) or the page with the refusal.

People sign in with their own API key (an operator's or a warehouse person's; no system's key,
no shared password): the session remembers whose key it was and checks it is still configured
on every request, so the timeline names the person, and revoking the key ends the session.
Every action goes through the same ReturnsClient as the API, so the workflow's validators have
the last word: a state that moved meanwhile is refused with the validator's own message.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from api.auth import Caller, KeyRing, Role
from console.queues import QUEUES
from integrations.settings import Settings
from starter.client import ReturnsClient, actor_id
from starter.errors import InvalidReturnInput
from web.formats import day, money
from web.routes import answering_with
from web.session import CSRF_FIELD, SessionCookie, csrf_matches, secure_page
from workflows.vocabulary import Deadline, Disposition, ReasonCode, ReturnMethod, Stage, WayOut

log = structlog.get_logger(__name__)
HERE = Path(__file__).parent


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(csrf_field=CSRF_FIELD, Stage=Stage, Deadline=Deadline, Disposition=Disposition)
    templates.env.globals.update(WayOut=WayOut, ReasonCode=ReasonCode, ReturnMethod=ReturnMethod, queues=QUEUES)
    templates.env.filters.update(money=money, day=day, moment=lambda at: at.strftime("%Y-%m-%d %H:%M"))
    return templates


TEMPLATES = _templates()


class ConsoleState:
    def __init__(self, settings: Settings):
        secret = settings.console_secret.get_secret_value() if settings.console_secret else secrets.token_urlsafe(32)
        self.cookie = SessionCookie("console_session", "/console", secret, settings.console_session_minutes * 60)


class Desk:
    """One request to the console: its session, the person signed in, and the answers."""

    def __init__(self, request: Request):
        self.request = request
        self.state: ConsoleState = request.app.state.console
        self.returns: ReturnsClient = request.app.state.returns
        self.session = self.state.cookie.load(request)
        self.person = self._signed_in(request.app.state.keys)
        request.state.caller = self.person  # for the request log (api/middleware.py): role and key id

    def _signed_in(self, keys: KeyRing) -> Caller | None:
        who = self.session.get("who")
        if not isinstance(who, dict):
            return None
        try:
            person = Caller(Role(who["role"]), who["holder"], who["key_id"], False, who.get("shop"))
        except (KeyError, ValueError):
            return None
        return person if keys.still_admits(person) else None

    @property
    def actor(self) -> str:
        assert self.person is not None
        return actor_id(self.person.role.value, self.person.holder)

    def render(self, template: str, status_code: int = 200, **context: Any) -> Response:
        notice = self.session.pop("notice", None)
        context = {"csrf_token": self.session["csrf"], "person": self.person, "notice": notice} | context
        response = TEMPLATES.TemplateResponse(self.request, template, context, status_code=status_code)
        return self._finish(response)

    def redirect(self, path: str, notice: str | None = None) -> Response:
        if notice:
            self.session["notice"] = notice
        return self._finish(RedirectResponse(path, status_code=303))

    def message(self, status_code: int, title: str, text: str) -> Response:
        return self.render("message.html", status_code, title=title, text=text)

    async def form(self) -> Mapping[str, Any] | None:
        """The posted form, or None when its CSRF token is missing or not this session's."""
        form = await self.request.form()
        return form if csrf_matches(self.session, form.get(CSRF_FIELD)) else None

    def refused_form(self) -> Response:
        log.warning("console form without its csrf token", path=self.request.url.path)
        return self.message(403, "This form has expired", "Please sign in and try again; nothing was changed.")

    def refused_role(self) -> Response:
        assert self.person is not None
        log.warning("console role refused", path=self.request.url.path, role=self.person.role.value)
        return self.message(403, "Not for your role", f"The {self.person.role.value} role may not do this.")

    def _finish(self, response: Response) -> Response:
        self.state.cookie.save(self.request, response, self.session)
        return secure_page(response)


def problems(error: ValidationError) -> str:
    """A form's invalid fields, each with why, in one line."""
    return "; ".join(f"{field}: {message}" for field, message in InvalidReturnInput.from_validation(error).problems)


def _unavailable(request: Request) -> Response:
    return Desk(request).message(503, "Temporal or the store is not answering", "Please try again in a minute.")


pages = APIRouter(prefix="/console", include_in_schema=False, route_class=answering_with(_unavailable))
Page = Callable[[Desk], Awaitable[Response]]


def admits(*roles: Role) -> Callable[[Callable[..., Awaitable[Response]]], Callable[..., Awaitable[Response]]]:
    """A page for people signed in with one of `roles`: others sign in first, or are refused (403)."""

    def wrap(page: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
        async def admitted(request: Request, **path: str) -> Response:
            desk = Desk(request)
            if desk.person is None:
                return desk.redirect("/console/sign-in", "Please sign in.")
            if desk.person.role not in roles:
                return desk.refused_role()
            return await page(desk, **path)

        # FastAPI reads a handler's parameters from its signature: the request, and the page's path's.
        path_names = list(inspect.signature(page).parameters)[1:]
        keyword = inspect.Parameter.KEYWORD_ONLY
        admitted.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
            + [inspect.Parameter(name, keyword, annotation=str) for name in path_names]
        )
        admitted.__name__ = page.__name__
        return admitted

    return wrap
