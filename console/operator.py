"""The operator's pages: signing in, queues, search, a return's page, its actions and bulk retry."""

from __future__ import annotations

import asyncio
import io
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import barcode
import structlog
from barcode.writer import SVGWriter
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from api.auth import Role
from console.desk import Desk, admits, pages, problems
from console.queues import QUEUE_BY_SLUG, QUEUES, SEARCH_TERM, STUCK_DAYS, Queue, customers_query, search_query
from starter.client import ReturnsClient, actor_id
from starter.errors import InvalidReturnInput, ReturnConflictError, ReturnNotFoundError, ReturnStateError
from starter.visibility import ReturnPage, ReturnSummary
from store.finder import SORTS, ReturnsWanted
from store.reports import ReportName
from store.webhooks import SubscriptionState, UnknownSubscriptionError
from web.session import fresh_session, secure_page
from workflows.models import (
    Cancellation,
    DeadlineExtension,
    DispositionOverride,
    LineStatus,
    OperatorAction,
    OtherWay,
    ReturnStatus,
)
from workflows.state import REJECTABLE
from workflows.vocabulary import CLOSED_STAGES, ReasonCode, ReturnMethod, Stage

log = structlog.get_logger(__name__)
PAGE_SIZE = 25
BULK_MOST = 100  # returns one bulk action may name


# --- Signing in ----------------------------------------------------------------------------------


@pages.get("", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    desk = Desk(request)
    if desk.person is None:
        return desk.redirect("/console/sign-in")
    return desk.redirect("/console/queues" if desk.person.role is Role.operator else "/console/receiving")


@pages.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request) -> Response:
    return Desk(request).render("sign_in.html")


@pages.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    desk = Desk(request)
    form = await desk.form()
    if form is None:
        return desk.refused_form()
    caller = request.app.state.keys.caller(str(form.get("api_key", "")).strip())
    if caller is None or caller.system or caller.role not in (Role.operator, Role.warehouse):
        log.warning("console sign-in refused")
        error = "That is not an operator's or a warehouse person's own key."
        return desk.render("sign_in.html", 401, error=error)
    if caller.shop is not None:  # the console's queues, search and reports cover every shop's returns
        log.warning("console sign-in refused: a shop's key", actor=actor_id(caller.role.value, caller.holder))
        error = "A key that reaches one shop's returns can't sign in here: the console shows every shop's."
        return desk.render("sign_in.html", 403, error=error)
    who = {"role": caller.role.value, "holder": caller.holder, "key_id": caller.key_id, "shop": caller.shop}
    desk.session = fresh_session(who=who)  # a new session and CSRF token for the person
    log.info("console sign-in", actor=actor_id(caller.role.value, caller.holder))
    return desk.redirect("/console")


@pages.post("/sign-out", response_class=HTMLResponse)
async def sign_out(request: Request) -> Response:
    desk = Desk(request)
    if await desk.form() is not None:
        desk.session = fresh_session()
    return desk.redirect("/console/sign-in", "Signed out.")


# --- Operator: queues, search, a return, its actions, bulk actions ---------------------------------


@pages.get("/queues", response_class=HTMLResponse)
@admits(Role.operator)
async def queues(desk: Desk) -> Response:
    days = _stuck_days(desk.request)
    now = datetime.now(UTC)
    counts = await asyncio.gather(*(_count(desk, queue, now, days) for queue in QUEUES))
    subscriptions = await desk.returns.subscriptions()
    disabled = [subscription for subscription in subscriptions if subscription.state is SubscriptionState.disabled]
    return desk.render("queues.html", counted=list(zip(QUEUES, counts, strict=True)), days=days, disabled=disabled)


@pages.post("/event-subscriptions/{subscription_id}/enable", response_class=HTMLResponse)
@admits(Role.operator)
async def enable_subscription(desk: Desk, subscription_id: str) -> Response:
    """An endpoint disabled after failing for days (or by an operator) gets new events again."""
    if await desk.form() is None:
        return desk.refused_form()
    try:
        enabled = await desk.returns.enable_subscription(subscription_id)
    except UnknownSubscriptionError:
        return desk.message(404, "No such endpoint", f"There is no event subscription {subscription_id!r}.")
    log.info("console enabled an event subscription", subscription_id=subscription_id, actor=desk.actor)
    return desk.redirect("/console/queues", f"Events go to {enabled.url} again. Redeliver what it missed from the API.")


async def _count(desk: Desk, queue: Queue, now: datetime, days: int) -> int:
    if queue.wanted is not None:
        return (await desk.returns.find_returns(queue.wanted, limit=0))[1]
    assert queue.query is not None
    return await desk.returns.count_returns(queue.query(now, desk.returns.policy, days))


async def _store_page(desk: Desk, wanted: ReturnsWanted) -> tuple[ReturnPage, int] | Response:
    """A page of the event store's read model; its page token is the offset of the next."""
    token = desk.request.query_params.get("page") or "0"
    if not token.isdigit() or int(token) > 1_000_000:
        return desk.message(400, "That page is not one of ours", "not a page token this console gave out")
    offset = int(token)
    sort = desk.request.query_params.get("sort") or "newest"
    if sort not in SORTS:
        return desk.message(400, "Not a column to sort by", f"sort by one of: {', '.join(SORTS)}")
    rows, total = await desk.returns.find_returns(wanted, limit=PAGE_SIZE, offset=offset, sort=sort)
    summaries = [
        ReturnSummary(
            return_id=row["return_id"],
            stage=Stage(row["stage"]),
            order_id=row["order_id"],
            customer_id=row["customer_id"],
            tracking_number=None,
            needs_attention=row["needs_attention"],
            running=row["is_open"],
            started_at=row["requested_at"],
            closed_at=row["closed_at"],
        )
        for row in rows
    ]
    following = str(offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None
    return ReturnPage(returns=summaries, next_page_token=following), total


def _stuck_days(request: Request) -> int:
    try:
        return min(max(int(request.query_params.get("days", STUCK_DAYS)), 1), 3650)
    except ValueError:
        return STUCK_DAYS


async def _page(desk: Desk, query: str) -> ReturnPage | Response:
    token = desk.request.query_params.get("page") or None
    try:
        return await desk.returns.search_returns(query, page_size=PAGE_SIZE, page_token=token)
    except InvalidReturnInput as error:
        return desk.message(400, "That page is not one of ours", error.message)


@pages.get("/queues/{slug}", response_class=HTMLResponse)
@admits(Role.operator)
async def queue_page(desk: Desk, slug: str) -> Response:
    queue = QUEUE_BY_SLUG.get(slug)
    if queue is None:
        return desk.message(404, "No such queue", f"There is no queue {slug!r}.")
    days = _stuck_days(desk.request)
    if queue.wanted is not None:
        found = await _store_page(desk, queue.wanted)
        if isinstance(found, Response):
            return found
        page, count = found
    else:
        assert queue.query is not None
        query = queue.query(datetime.now(UTC), desk.returns.policy, days)
        page, count = await asyncio.gather(_page(desk, query), desk.returns.count_returns(query))
        if isinstance(page, Response):
            return page
    # The page's statuses and (needs attention) the whole queue's failed steps, asked at once.
    statuses, steps = await asyncio.gather(
        _statuses(desk, [summary.return_id for summary in page.returns]) if queue.attention else asyncio.sleep(0, {}),
        _failed_steps(desk) if queue.bulk == "retry" else asyncio.sleep(0, None),
    )
    why = Counter(_why(status) for status in statuses.values())
    # One line of the breakdown (`?why=`): only its returns, chosen already, so a bulk action takes
    # every return that failed on the same step at once (no script needed to tick them all).
    only = desk.request.query_params.get("why") if statuses else None
    if only:
        kept = [s for s in page.returns if s.return_id in statuses and _why(statuses[s.return_id]) == only]
        page = page.model_copy(update={"returns": kept})
    return desk.render(
        "queue.html",
        queue=queue,
        page=page,
        count=count,
        statuses=statuses,
        why=why,
        days=days,
        only=only,
        steps=steps,
    )


async def _failed_steps(desk: Desk) -> list[dict[str, Any]] | None:
    """The whole queue by failed step and error type, from the event store's read model (a page
    shows only its own 25); None while the store can't answer: the queue itself still shows."""
    try:
        return (await desk.returns.report(ReportName.needs_attention)).rows
    except SQLAlchemyError as error:
        log.warning("needs-attention breakdown unavailable", error=type(error).__name__)
        return None


async def _statuses(desk: Desk, return_ids: list[str]) -> dict[str, ReturnStatus]:
    answers = await asyncio.gather(*(desk.returns.status(rid) for rid in return_ids), return_exceptions=True)
    return {rid: status for rid, status in zip(return_ids, answers, strict=True) if isinstance(status, ReturnStatus)}


def _why(status: ReturnStatus) -> str:
    """What a return in a queue waits for, in one line (its breakdown's key)."""
    if status.awaiting_decision is not None:
        return f"decision: {status.awaiting_decision.value}"
    if status.attention is not None and status.attention.step:
        return f"failed step: {status.attention.step} ({status.attention.error_type or 'error'})"
    if status.attention is not None:
        return status.attention.reason
    return status.stage.value


@pages.get("/returns", response_class=HTMLResponse)
@admits(Role.operator)
async def search(desk: Desk) -> Response:
    """By id, order, customer or tracking number and stage (visibility); with a SKU, method,
    reason or days requested, from the event store's read model (visibility holds none of them)."""
    asked = desk.request.query_params
    term = asked.get("q", "").strip().lstrip("#") or None
    stage = Stage(asked["stage"]) if asked.get("stage") in Stage.__members__ else None
    shown = {"term": term, "stage": stage, "asked": asked}
    store_filters = {name: asked.get(name) or None for name in ("sku", "method", "reason", "from", "to")}
    if term and "@" in term and not any(store_filters.values()):
        return await _search_by_email(desk, term, stage, shown)
    if not any(store_filters.values()):
        query = search_query(term, stage)
        if query is None:
            error = "Not a return id, order, customer, email or tracking number."
            return desk.render("search.html", 400, page=None, error=error, **shown)
        page = await _page(desk, query)
        return page if isinstance(page, Response) else desk.render("search.html", page=page, **shown)
    try:
        wanted = ReturnsWanted(
            term=term,
            sku=_term(store_filters["sku"]),
            method=ReturnMethod(store_filters["method"]) if store_filters["method"] else None,
            reason=ReasonCode(store_filters["reason"]) if store_filters["reason"] else None,
            stage=stage,
            requested_from=date.fromisoformat(store_filters["from"]) if store_filters["from"] else None,
            requested_to=date.fromisoformat(store_filters["to"]) if store_filters["to"] else None,
        )
    except ValueError as error:
        return desk.render("search.html", 400, page=None, error=f"Check the filters: {error}", **shown)
    found = await _store_page(desk, wanted)
    if isinstance(found, Response):
        return found
    sorted_by = desk.request.query_params.get("sort") or "newest"
    return desk.render("search.html", page=found[0], count=found[1], sorted_by=sorted_by, **shown)


async def _search_by_email(desk: Desk, email: str, stage: Stage | None, shown: dict[str, Any]) -> Response:
    """The returns hold no address: the shop platform names the customers whose orders carry it."""
    customers = [c for c in await desk.returns.customers_with_email(email) if SEARCH_TERM.fullmatch(c)]
    if not customers:
        return desk.render("search.html", page=ReturnPage(returns=[], next_page_token=None), **shown)
    page = await _page(desk, customers_query(customers, stage))
    return page if isinstance(page, Response) else desk.render("search.html", page=page, **shown)


def _term(text: str | None) -> str | None:
    if text is not None and not SEARCH_TERM.fullmatch(text):
        raise ValueError(f"{text[:64]!r} is not a SKU")
    return text


@pages.get("/returns/{return_id}", response_class=HTMLResponse)
@admits(Role.operator, Role.warehouse)
async def return_page(desk: Desk, return_id: str) -> Response:
    try:
        status = await desk.returns.status(return_id)
    except (ReturnNotFoundError, InvalidReturnInput):
        return desk.message(404, "No such return", f"There is no return {return_id!r}.")
    return _return_page(desk, status)


@pages.get("/returns/{return_id}/barcode.svg")
@admits(Role.operator, Role.warehouse)
async def barcode_label(desk: Desk, return_id: str) -> Response:
    """The return id as a Code 128 barcode (SVG), for a parcel that arrived without its label."""
    try:
        await desk.returns.status(return_id)  # only a return's own id is drawn
    except (ReturnNotFoundError, InvalidReturnInput):
        return desk.message(404, "No such return", f"There is no return {return_id!r}.")
    drawn = io.BytesIO()
    options = {"module_height": 12.0, "font_size": 8, "text_distance": 4.0, "quiet_zone": 4.0}
    barcode.get("code128", return_id, writer=SVGWriter()).write(drawn, options=options)
    return secure_page(Response(drawn.getvalue(), media_type="image/svg+xml"))


def _return_page(desk: Desk, status: ReturnStatus, status_code: int = 200, error: str | None = None) -> Response:
    returned_value = sum(line.quantity * line.unit_price for line in status.lines if line.declined is None)
    return desk.render(
        "return.html",
        status_code,
        status=status,
        returned_value=returned_value,
        allowed=allowed_actions(status),
        overridable=overridable_lines(status),
        form_id=secrets.token_hex(8),
        error=error,
    )


# --- The actions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    title: str
    payload: Callable[[str, str, Mapping[str, Any]], BaseModel]  # (actor, reason, form) -> the action
    send: Callable[..., Awaitable[Any]]  # a ReturnsClient method


ACTIONS: dict[str, Action] = {
    "approve": Action("Approve", lambda a, r, f: OperatorAction(actor=a, reason=r), ReturnsClient.approve),
    "reject": Action("Reject", lambda a, r, f: OperatorAction(actor=a, reason=r), ReturnsClient.reject),
    "retry": Action("Retry the failed step", lambda a, r, f: OperatorAction(actor=a, reason=r), ReturnsClient.retry),
    "other-way": Action(
        "Resolve another way",
        lambda a, r, f: OtherWay(actor=a, reason=r, way=f.get("way")),
        ReturnsClient.resolve_otherwise,
    ),
    "cancel": Action(
        "Cancel", lambda a, r, f: Cancellation(actor=a, reason=r, requested_by="operator"), ReturnsClient.cancel
    ),
    "extend-deadline": Action(
        "Extend a deadline",
        lambda a, r, f: DeadlineExtension(actor=a, reason=r, deadline=f.get("deadline"), days=f.get("days")),
        ReturnsClient.extend_deadline,
    ),
    "override-disposition": Action(
        "Override a disposition",
        lambda a, r, f: DispositionOverride(
            actor=a, reason=r, line_id=f.get("line_id"), disposition=f.get("disposition")
        ),
        ReturnsClient.override_disposition,
    ),
}


def overridable_lines(status: ReturnStatus) -> list[LineStatus]:
    """The lines whose disposition can still be set: not declined, their disposition not yet run."""
    return [line for line in status.lines if line.declined is None and line.disposition_work_id is None]


def allowed_actions(status: ReturnStatus) -> list[str]:
    """The actions the return's state offers (the workflow's validators still decide when one is sent)."""
    if status.stage in CLOSED_STAGES:
        return []
    allowed = []
    if status.awaiting_decision is not None:
        allowed.append("approve")
        if status.awaiting_decision in REJECTABLE:
            allowed.append("reject")
    if status.attention is not None and status.attention.step:
        allowed += ["retry", "other-way"]
    allowed.append("cancel")
    if status.deadlines:
        allowed.append("extend-deadline")
    if overridable_lines(status):  # before the inspection too: the inspection then keeps it
        allowed.append("override-disposition")
    return allowed


async def apply(desk: Desk, return_id: str, name: str, form: Mapping[str, Any], form_id: str) -> str | None:
    """Sends one action; None when accepted, else why it was refused (the validator's words)."""
    action = ACTIONS[name]
    try:
        payload = action.payload(desk.actor, str(form.get("reason", "")).strip(), form)
        # The form's id makes a double-clicked or resent form one update (ReturnsClient's idempotency).
        update_id = f"{name}:console-{desk.person.key_id if desk.person else '-'}:{form_id}:{return_id}"
        await action.send(desk.returns, return_id, payload, idempotency_key=update_id)
    except ValidationError as error:
        return problems(error)
    except ReturnStateError as error:
        return f"Refused: the return is {error.stage.value}: {error.reason}"
    except (InvalidReturnInput, ReturnConflictError) as error:
        return f"Refused: {error}"
    except ReturnNotFoundError:
        return f"There is no return {return_id}."
    log.info("console action", return_id=return_id, action=name, actor=desk.actor)
    return None


@pages.post("/returns/{return_id}/{name}", response_class=HTMLResponse)
@admits(Role.operator, Role.warehouse)
async def act(desk: Desk, return_id: str, name: str) -> Response:
    form = await desk.form()
    if form is None:
        return desk.refused_form()
    if name not in ACTIONS:
        return desk.message(404, "No such action", f"There is no action {name!r}.")
    if desk.person is None or desk.person.role is not Role.operator:
        return desk.refused_role()
    refused = await apply(desk, return_id, name, form, str(form.get("form_id", ""))[:32] or secrets.token_hex(8))
    if refused is not None:
        try:
            status = await desk.returns.status(return_id)
        except ReturnNotFoundError:
            return desk.message(404, "No such return", refused)
        return _return_page(desk, status, 409, refused)
    return desk.redirect(f"/console/returns/{return_id}", f"{ACTIONS[name].title}: done.")


@dataclass(frozen=True)
class Bulk:
    """An action applied to a selection of a queue: its words before and after."""

    verb: str  # "Retry"
    what: str  # "the failed step of"
    done: str  # "retried"
    queue: str  # the queue whose selection it takes


BULK = {
    "retry": Bulk("Retry", "the failed step of", "retried", "needs-attention"),
    "approve": Bulk("Approve", "", "approved", "needs-review"),
}


@pages.post("/bulk/{name}", response_class=HTMLResponse)
@admits(Role.operator)
async def bulk(desk: Desk, name: str) -> Response:
    """Applies an action to each chosen return: first a confirmation naming the count, then one
    by one, each return's outcome shown."""
    form = await desk.form()
    if form is None:
        return desk.refused_form()
    action = BULK.get(name)
    if action is None:
        return desk.message(404, "No such bulk action", f"There is no bulk action {name!r}.")
    chosen = list(dict.fromkeys(str(rid) for rid in form.getlist("return_id")))[:BULK_MOST]  # type: ignore[attr-defined]
    reason = str(form.get("reason", "")).strip()
    if not chosen:
        return desk.message(400, "Nothing chosen", "Choose the returns first.")
    if form.get("confirmed") != "yes":
        context = {"chosen": chosen, "reason": reason, "form_id": secrets.token_hex(8)}
        return desk.render("bulk_confirm.html", name=name, action=action, **context)
    form_id = str(form.get("form_id", ""))[:32] or secrets.token_hex(8)
    outcomes = [(rid, await apply(desk, rid, name, form, form_id)) for rid in chosen]
    return desk.render("bulk_results.html", action=action, outcomes=outcomes)
