"""The shopper's returns portal: find the order, pick items, choose how and what back, review,
confirm, then follow the return on its status page (reached by a signed link).

Server-rendered (Jinja2), no JavaScript; every form posts and is answered with a redirect (303)
to the next page. Every page asks the shop platform (the order) and the return's workflow (its
status) again through the same ReturnsClient as the API, so what a page promises is what the
workflow does; the session (portal/session.py) only remembers what the shopper chose.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from limits import parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from pydantic import TypeAdapter, ValidationError

import portal.mail as mail
import workflows.rules as rules
from activities.models import PickupWindow, SaidWhy
from integrations.errors import IntegrationError
from integrations.mail import mail_configured
from integrations.mail import send as send_mail
from integrations.settings import Settings
from integrations.shop import ShopperOrder, Variant
from portal.journey import (
    METHODS,
    Choice,
    dock_address,
    eligibility_request,
    estimate,
    in_stock_for,
    lines_on_offer,
    method_cost,
    pickup_windows,
    return_request,
    shopper_address,
)
from portal.language import LOCALES, TEMPLATES, window_value
from portal.photos import PhotoFiles, PhotoRefused, PhotoStore, checked_photos, photo_store
from portal.session import LinkExpired, LinkInvalid, Signer
from portal.words import _
from starter.client import ReturnsClient, actor_id
from starter.errors import InvalidReturnInput, ReturnConflictError, ReturnNotFoundError, ReturnStateError
from web.routes import answering_with, serve_shared_styles
from web.session import CSRF_FIELD, csrf_matches, secure_page
from workflows.models import Cancellation, OperatorAction, PickupChange, ReturnStatus
from workflows.primitives import UNSAFE_TEXT, Identifier
from workflows.vocabulary import Deadline, ReasonCode, ResolutionKind, ReturnMethod, Stage

log = structlog.get_logger(__name__)
_HERE = Path(__file__).parent
_ORDER_ID = TypeAdapter(Identifier)
# A shopper may cancel until the parcel has left them (the workflow's own validator has the last word).
CANCELLABLE = frozenset({Stage.requested, Stage.needs_review, Stage.approved, Stage.label_issued})
OUTCOMES = (ResolutionKind.refund, ResolutionKind.store_credit)
PHOTOS_PER_FORM = 12  # photos one items form may carry, whatever the lines
SETTLE_SECONDS = 5.0  # how long a confirmation or cancellation waits for the return's own next step
NOT_FOUND = _("We couldn't find an order with that number and email address or postal code. Please check both.")


class PortalState:
    """What the portal's pages share in one process: the signer and the lookup limits."""

    def __init__(self, settings: Settings):
        self.signer = Signer.from_settings(settings)
        self.photo_dir = Path(settings.portal_photo_dir) if settings.portal_photo_dir else None
        self.photo_max_bytes = settings.portal_photo_max_bytes
        self._limits = LookupLimits(settings)

    async def may_look_up(self, address: str, order_id: str) -> bool:
        """Counts a lookup against the shopper's address and the order; False once either is spent."""
        return await asyncio.to_thread(self._limits.hit, address, order_id)  # a shared store is a network call


class LookupLimits:
    """The lookup counts, in the storage the settings name (shared by every API process, e.g. Redis).
    While that storage fails, this process counts on its own: shoppers keep a limit, and are not all
    refused because a counter is away."""

    def __init__(self, settings: Settings):
        uri = settings.portal_rate_limit_storage.get_secret_value()
        options = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5} if uri.startswith(("redis", "rediss")) else {}
        self._shared = MovingWindowRateLimiter(storage_from_string(uri, wrap_exceptions=True, **options))
        self._own = MovingWindowRateLimiter(MemoryStorage())
        self._per_address = parse(settings.portal_lookups_per_address)
        self._per_order = parse(settings.portal_lookups_per_order)

    def hit(self, address: str, order_id: str) -> bool:
        try:
            return self._hit(self._shared, address, order_id)
        except StorageError as error:
            log.error(
                "lookup limits' storage failed; counting in this process", error=type(error.storage_error).__name__
            )
            return self._hit(self._own, address, order_id)

    def _hit(self, limiter: MovingWindowRateLimiter, address: str, order_id: str) -> bool:
        by_address = limiter.hit(self._per_address, "portal-lookup-address", address)
        by_order = limiter.hit(self._per_order, "portal-lookup-order", order_id.casefold())
        return by_address and by_order


def install_portal(app: FastAPI, settings: Settings) -> None:
    app.state.portal = PortalState(settings)
    serve_shared_styles(app)
    app.include_router(pages)
    app.mount("/portal/static", StaticFiles(directory=_HERE / "static"), name="portal-static")
    if settings.portal_photo_dir:
        Path(settings.portal_photo_dir).mkdir(parents=True, exist_ok=True)
        app.mount("/portal/photos", PhotoFiles(directory=settings.portal_photo_dir), name="portal-photos")


def photo_form_body_limits(settings: Settings) -> dict[str, int]:
    """The forms that carry photos (the shopper's items, the warehouse's grades; path patterns):
    their own body limit, the API's for everything else."""
    if not settings.portal_photo_dir:
        return {}
    with_photos = settings.api_max_body_bytes + PHOTOS_PER_FORM * settings.portal_photo_max_bytes
    return {"/portal/items": with_photos, "/console/receiving/[^/]+/inspection": with_photos}


def _unavailable(request: Request) -> Response:
    """A shop platform or Temporal that doesn't answer is a page in the shopper's language (503)."""
    return Visit(request).message(503, _("We can't reach the shop right now"), _("Please try again in a minute."))


pages = APIRouter(prefix="/portal", include_in_schema=False, route_class=answering_with(_unavailable))


def preferred_language(accept_language: str | None) -> str:
    """The first of the shopper's languages (`Accept-Language`, in its order) that the portal speaks."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        language = tag.split("-")[0]
        if language in LOCALES:
            return language
    return "en"


class Visit:
    """One request to the portal: its session, and the answers it renders or redirects with."""

    def __init__(self, request: Request):
        self.request = request
        self.portal: PortalState = request.app.state.portal
        self.returns: ReturnsClient = request.app.state.returns
        self.session = self.portal.signer.load_session(request)
        chosen = request.query_params.get("lang")
        if chosen in LOCALES:  # the switcher's choice lasts the session
            self.session["lang"] = chosen
        self.language = self.session.get("lang") or preferred_language(request.headers.get("accept-language"))

    def render(
        self, template: str, status_code: int = 200, *, image_origin: str | None = None, **context: Any
    ) -> Response:
        context |= {"csrf_token": self.session["csrf"]}
        context |= {"switch_to": self._page_to_switch_on()}
        response = TEMPLATES[self.language].TemplateResponse(self.request, template, context, status_code=status_code)
        return self._finish(response, image_origin)

    def photo_store(self) -> PhotoStore | None:
        return photo_store(self.request.app.state.settings, str(self.request.base_url))

    @property
    def pickup_zone(self) -> ZoneInfo:
        """The carrier's rounds are offered, and pickup times shown, in the shop's time zone."""
        return ZoneInfo(self.request.app.state.settings.pickup_time_zone)

    def _page_to_switch_on(self) -> str:
        """The page the language switcher reloads: this one, or for a form's answer the page of that form."""
        path = self.request.url.path.removesuffix("/cancel").removesuffix("/pickup")
        return {"/portal/lookup": "/portal", "/portal/confirm": "/portal/review"}.get(path, path)

    def redirect(self, path: str) -> Response:
        return self._finish(RedirectResponse(path, status_code=303), None)

    def message(self, status_code: int, title: str, text: str, *, again: bool = True) -> Response:
        return self.render("message.html", status_code, title=title, text=text, again=again)

    async def form(self) -> Mapping[str, Any] | None:
        """The posted form, or None when its CSRF token is missing or not this session's."""
        form = await self.request.form()
        return form if csrf_matches(self.session, form.get(CSRF_FIELD)) else None

    def refused_form(self) -> Response:
        log.warning("portal form without its csrf token", path=self.request.url.path)
        return self.message(
            403,
            _("This form has expired"),
            _("The form was not sent from this page, or was open too long. Please start again; nothing was changed."),
        )

    async def order(self) -> ShopperOrder | None:
        """The order the session names (asked of the shop again), or None: the shopper starts over."""
        if "order" not in self.session:
            return None
        try:
            return await self.returns.shopper_order(
                self.session["order"], email=self.session.get("email"), postal_code=self.session.get("zip")
            )
        except InvalidReturnInput:
            return None

    def _finish(self, response: Response, image_origin: str | None) -> Response:
        self.portal.signer.save_session(self.request, response, self.session)
        return secure_page(response, image_origin)


# --- 1. Find the order ----------------------------------------------------------------------------


@pages.get("", response_class=HTMLResponse)
async def lookup_page(request: Request) -> Response:
    return Visit(request).render("lookup.html")


@pages.post("/lookup", response_class=HTMLResponse)
async def lookup(request: Request) -> Response:
    visit = Visit(request)
    form = await visit.form()
    if form is None:
        return visit.refused_form()
    order_id = str(form.get("order_number", "")).strip().lstrip("#")
    contact = str(form.get("contact", "")).strip()[:254]
    host = request.client.host if request.client else "-"
    if not await visit.portal.may_look_up(host, order_id):
        log.warning("portal lookup rate limited", order_id=order_id[:64])
        return visit.render("lookup.html", 429, error=_("Too many attempts. Please wait a few minutes and try again."))
    email, postal_code = (contact, None) if "@" in contact else (None, contact)
    try:
        _ORDER_ID.validate_python(order_id)
        await visit.returns.shopper_order(order_id, email=email, postal_code=postal_code)
    except (ValidationError, InvalidReturnInput):
        # The same answer for an unknown order and a wrong email: the page tells nobody which orders exist.
        return visit.render("lookup.html", 404, error=NOT_FOUND, order_number=order_id)
    visit.session = {"csrf": secrets.token_urlsafe(24), "order": order_id, "email": email, "zip": postal_code}
    return visit.redirect("/portal/items")


# --- 2. Pick items ---------------------------------------------------------------------------------


async def _offer(visit: Visit, order: ShopperOrder) -> tuple[list[Any], Any, Any] | None:
    contact, dock = _addresses(visit, order)
    if contact is None or dock is None:
        return None
    method = next((m for m in METHODS if m in visit.returns.policy.allowed_methods), ReturnMethod.mail_label)
    everything = [Choice(line.line_id, line.quantity, ReasonCode.unwanted) for line in order.lines]
    eligibility, in_returns = await asyncio.gather(
        visit.returns.check_eligibility(eligibility_request(order, everything, method, contact, dock)),
        visit.returns.units_in_returns(order.order_id),
    )
    return lines_on_offer(order, eligibility, in_returns, visit.returns.policy), contact, dock


def _addresses(visit: Visit, order: ShopperOrder) -> tuple[Any, Any]:
    return shopper_address(order, visit.session.get("email"), visit.session.get("zip")), dock_address(order)


def _cannot_return_online(visit: Visit) -> Response:
    return visit.message(
        409,
        _("This order can't be returned here"),
        _("Please contact the shop: it has not given us what a return needs."),
    )


@pages.get("/items", response_class=HTMLResponse)
async def items_page(request: Request) -> Response:
    visit = Visit(request)
    return await _items(visit)


async def _items(visit: Visit, error: str | None = None) -> Response:
    order = await visit.order()
    if order is None:
        return visit.redirect("/portal")
    offer = await _offer(visit, order)
    if offer is None:
        return _cannot_return_online(visit)
    chosen = {choice.line_id: (choice.quantity, choice.reason.value, choice.comment) for choice in _choices(visit)}
    megabytes = "%g" % (visit.portal.photo_max_bytes / 1_000_000)
    return visit.render(
        "items.html",
        422 if error else 200,
        order=order,
        offered=offer[0],
        chosen=chosen,
        error=error,
        reasons=list(ReasonCode),
        photos=visit.portal.photo_dir is not None,
        photo_megabytes=megabytes,
        error_values={"mb": megabytes},  # the size limit is PORTAL_PHOTO_MAX_BYTES, said in its own words
    )


@pages.post("/items", response_class=HTMLResponse)
async def choose_items(request: Request) -> Response:
    visit = Visit(request)
    form = await visit.form()
    if form is None:
        return visit.refused_form()
    order = await visit.order()
    if order is None:
        return visit.redirect("/portal")
    offer = await _offer(visit, order)
    if offer is None:
        return _cannot_return_online(visit)
    choices = []
    photos: dict[str, list[tuple[bytes, str]]] = {}
    for offered in offer[0]:
        line_id = offered.line.line_id
        try:
            quantity = int(form.get(f"quantity-{line_id}", "0") or 0)
            reason = ReasonCode(form.get(f"reason-{line_id}", ""))
        except ValueError:
            quantity, reason = 0, None
        if quantity and not 0 < quantity <= offered.returnable_units:
            return await _items(visit, _("Choose at most the quantity shown for each item."))
        if quantity and reason is None:
            return await _items(visit, _("Tell us why you are returning each item you chose."))
        if quantity:
            choices.append((line_id, quantity, reason.value, _one_line(form.get(f"comment-{line_id}", ""))))
            try:
                photos[line_id] = await _photos_of(visit, form.getlist(f"photos-{line_id}"))
            except PhotoRefused as refused:
                return await _items(visit, str(refused))
    if not choices:
        return await _items(visit, _("Choose at least one item to return."))
    if sum(len(kept) for kept in photos.values()) > PHOTOS_PER_FORM:
        return await _items(visit, _("Please send fewer photos at once."))
    store = visit.photo_store()
    kept = {
        line_id: [await store.keep(content, kind) for content, kind in line_photos] if store else []
        for line_id, line_photos in photos.items()
    }
    visit.session.update(
        choices=[
            (line_id, quantity, reason, kept.get(line_id, []), comment)
            for line_id, quantity, reason, comment in choices
        ],
        return_id=None,
    )
    return visit.redirect("/portal/method")


async def _photos_of(visit: Visit, uploads: list[Any]) -> list[tuple[bytes, str]]:
    return await checked_photos(
        uploads, max_bytes=visit.portal.photo_max_bytes, taken=visit.portal.photo_dir is not None
    )


def _choices(visit: Visit) -> list[Choice]:
    """The session's choices (a session from before comments holds none: `*comment` is empty)."""
    return [
        Choice(line_id, quantity, ReasonCode(reason), photo_urls=tuple(urls), comment=next(iter(comment), None))
        for line_id, quantity, reason, urls, *comment in visit.session.get("choices", [])
    ]


COMMENT_MOST = 500  # characters, as ReturnLine.comment takes them
INSTRUCTIONS_MOST = 200  # characters, as a pickup's instructions take them


def _one_line(text: object, most: int = COMMENT_MOST) -> str | None:
    """A shopper's comment as the return keeps it: one line (line breaks and runs of spaces become one
    space), without the characters the doors refuse, at most `most` characters; None if empty."""
    words = " ".join(UNSAFE_TEXT.sub(" ", str(text)).split())[:most].strip()
    return words or None


# --- 3 and 4. How it goes back, and what the shopper gets --------------------------------------------


async def _variants(visit: Visit, order: ShopperOrder, choices: list[Choice]) -> dict[str, list[Variant]]:
    """Per chosen line, the product's variants and what is on hand (from the shop platform)."""
    skus = {line.line_id: line.sku for line in order.lines}
    found = await asyncio.gather(*(visit.returns.variants(skus[choice.line_id]) for choice in choices))
    return {choice.line_id: variants for choice, variants in zip(choices, found, strict=True)}


async def _methods_on_offer(visit: Visit, order: ShopperOrder, choices: list[Choice]) -> list[ReturnMethod]:
    """The methods the policy allows for every chosen line of this order (the eligibility check decides)."""
    contact, dock = _addresses(visit, order)
    allowed = [method for method in METHODS if method in visit.returns.policy.allowed_methods]
    request = eligibility_request(order, choices, allowed[0], contact, dock) if allowed else None
    checks = await visit.returns.eligibility_by_method(request, allowed) if request else {}
    return [method for method, check in checks.items() if all(line.returnable for line in check.lines)]


@pages.get("/method", response_class=HTMLResponse)
async def method_page(request: Request) -> Response:
    return await _method(Visit(request))


async def _method(visit: Visit, error: str | None = None) -> Response:
    order, choices = await visit.order(), _choices(visit)
    if order is None:
        return visit.redirect("/portal")
    if not choices:
        return visit.redirect("/portal/items")
    methods = await _methods_on_offer(visit, order, choices)
    if not methods:
        return await _items(visit, _("These items can't be returned together; please choose fewer."))
    policy = visit.returns.policy
    variants = await _variants(visit, order, choices)
    exchangeable = all(in_stock_for(choice, variants[choice.line_id]) for choice in choices)
    costs = {method: method_cost(method, policy, order.currency) for method in methods}
    chosen_method = visit.session.get("method") or methods[0]
    chosen_pickup = visit.session.get("pickup") or {}
    credit = estimate(
        order,
        choices,
        ReturnMethod(chosen_method) if chosen_method in methods else methods[0],
        ResolutionKind.store_credit,
        policy,
    )
    return visit.render(
        "method.html",
        422 if error else 200,
        order=order,
        methods=methods,
        costs=costs,
        outcomes=OUTCOMES + ((ResolutionKind.exchange,) if exchangeable else ()),
        choices=choices,
        titles={line.line_id: line.title for line in order.lines},
        variants=variants,
        chosen_exchange=visit.session.get("exchange") or {},
        bonus=credit.bonus,
        bonus_percent=policy.store_credit_bonus_bp / 100,
        error=error,
        chosen_method=chosen_method,
        chosen_outcome=visit.session.get("resolution") or ResolutionKind.refund.value,
        pickup_windows=_pickup_windows(visit) if ReturnMethod.pickup in methods else [],
        chosen_window=chosen_pickup.get("window"),
        chosen_instructions=chosen_pickup.get("instructions") or "",
        zone=visit.pickup_zone,
    )


def _pickup_windows(visit: Visit, ship_by: datetime | None = None) -> list[PickupWindow]:
    """The windows a shopper may pick, the ship-by deadline that of a return started now unless given."""
    now = datetime.now(UTC)
    ship_by = ship_by or now + visit.returns.policy.deadlines.duration(Deadline.ship_by)
    return pickup_windows(now, ship_by, visit.pickup_zone)


def _picked_window(visit: Visit, form: Mapping[str, Any], ship_by: datetime | None = None) -> PickupWindow | None:
    """The offered window the form names, with the shopper's instructions; None if it names none on offer."""
    picked = form.get("pickup_window")
    window = next((w for w in _pickup_windows(visit, ship_by) if window_value(w) == picked), None)
    if window is None:
        return None
    return window.model_copy(
        update={"instructions": _one_line(form.get("pickup_instructions") or "", INSTRUCTIONS_MOST)}
    )


@pages.post("/method", response_class=HTMLResponse)
async def choose_method(request: Request) -> Response:
    visit = Visit(request)
    form = await visit.form()
    if form is None:
        return visit.refused_form()
    order, choices = await visit.order(), _choices(visit)
    if order is None or not choices:
        return visit.redirect("/portal")
    methods = await _methods_on_offer(visit, order, choices)
    method, outcome = form.get("method"), form.get("outcome")
    if method not in methods or outcome not in (*OUTCOMES, ResolutionKind.exchange):
        return await _method(visit, _("Choose how to send the items back and what you would like in return."))
    exchange: dict[str, list[str]] = {}
    if outcome == ResolutionKind.exchange:
        variants = await _variants(visit, order, choices)
        for choice in choices:
            wanted = next(
                (
                    v
                    for v in in_stock_for(choice, variants[choice.line_id])
                    if v.sku == form.get(f"exchange-{choice.line_id}")
                ),
                None,
            )
            if wanted is None:
                return await _method(visit, _("Choose an item in stock to exchange each line for."))
            exchange[choice.line_id] = [wanted.sku, wanted.title]
    pickup = None
    if method == ReturnMethod.pickup:
        window = _picked_window(visit, form)
        if window is None:
            return await _method(visit, _("Choose a time for the carrier to collect the parcel."))
        pickup = {"window": window_value(window), "instructions": window.instructions}
    visit.session.update(method=method, resolution=outcome, exchange=exchange, pickup=pickup, return_id=None)
    return visit.redirect("/portal/review")


# --- 5. Review, and confirm --------------------------------------------------------------------------


async def _draft(visit: Visit) -> tuple[ShopperOrder, list[Choice], ReturnMethod, ResolutionKind] | Response:
    order, choices = await visit.order(), _choices(visit)
    if order is None:
        return visit.redirect("/portal")
    if not choices:
        return visit.redirect("/portal/items")
    if not visit.session.get("method") or not visit.session.get("resolution"):
        return visit.redirect("/portal/method")
    resolution = ResolutionKind(visit.session["resolution"])
    if resolution is ResolutionKind.exchange:
        wanted = visit.session.get("exchange") or {}
        if any(choice.line_id not in wanted for choice in choices):
            return visit.redirect("/portal/method")
        choices = [replace(choice, exchange_sku=wanted[choice.line_id][0]) for choice in choices]
    return order, choices, ReturnMethod(visit.session["method"]), resolution


def _drafted_window(visit: Visit) -> PickupWindow | None:
    """The pickup window the shopper picked on the method page (checked again when the return starts)."""
    pickup = visit.session.get("pickup")
    if not pickup:
        return None
    start, _slash, end = pickup["window"].partition("/")
    return PickupWindow(start=start, end=end, instructions=pickup.get("instructions"))


@pages.get("/review", response_class=HTMLResponse)
async def review_page(request: Request) -> Response:
    return await _review(Visit(request))


async def _review(visit: Visit, error: str | None = None) -> Response:
    draft = await _draft(visit)
    if isinstance(draft, Response):
        return draft
    order, choices, method, resolution = draft
    contact, dock = _addresses(visit, order)
    check = await visit.returns.check_eligibility(eligibility_request(order, choices, method, contact, dock))
    if not all(line.returnable for line in check.lines):
        return await _items(visit, _("Something changed: please choose your items again."))
    policy = visit.returns.policy
    if not visit.session.get("return_id"):  # one id per draft: confirming twice starts one return
        prefix = order.order_id.split(":")[0] + ":" if ":" in order.order_id else ""
        visit.session["return_id"] = f"{prefix}RP-{secrets.token_hex(5).upper()}"
    titles = {line.line_id: line.title for line in order.lines}
    ship_by = datetime.now(UTC) + timedelta(days=policy.deadlines.ship_by_days)
    return visit.render(
        "review.html",
        422 if error else 200,
        order=order,
        choices=choices,
        titles=titles,
        method=method,
        resolution=resolution,
        estimate=estimate(order, choices, method, resolution, policy),
        ships=rules.ships_a_parcel(method),
        ship_by=ship_by,
        review=check.review_reason is not None,
        error=error,
        pickup=_drafted_window(visit) if method is ReturnMethod.pickup else None,
        zone=visit.pickup_zone,
        return_id=visit.session["return_id"],
        exchange={line_id: title for line_id, (_, title) in (visit.session.get("exchange") or {}).items()},
    )


@pages.post("/confirm", response_class=HTMLResponse)
async def confirm(request: Request) -> Response:
    visit = Visit(request)
    form = await visit.form()
    if form is None:
        return visit.refused_form()
    draft = await _draft(visit)
    if isinstance(draft, Response):
        return draft
    order, choices, method, resolution = draft
    return_id = visit.session.get("return_id")
    if not return_id or form.get("return_id") != return_id:
        return await _review(visit, _("Your choices changed since this page was shown: please check them again."))
    contact, dock = _addresses(visit, order)
    request_to_start = return_request(return_id, order, choices, method, resolution, contact, dock)
    pickup = _drafted_window(visit) if method is ReturnMethod.pickup else None
    if method is ReturnMethod.pickup and pickup is None:
        return visit.redirect("/portal/method")
    # the return's emails in the shopper's language; the carrier's window
    request_to_start = request_to_start.model_copy(update={"language": visit.language, "pickup": pickup})
    try:
        started = await visit.returns.start(request_to_start)
    except (InvalidReturnInput, ReturnConflictError) as error:
        log.warning("portal return not started", return_id=return_id, error=str(error))
        visit.session["return_id"] = None
        return await _review(visit, _("We couldn't start this return. Please check your choices and try again."))
    log.info("portal return started", return_id=return_id, method=method.value, resolution=resolution.value)
    token = visit.portal.signer.status_link_token(return_id)
    if started.created and order.contact.email:
        await _email_confirmation(visit, order.contact.email, return_id, token)
    await _after_its_next_step(visit.returns, return_id, lambda status: not is_moving(status))
    for key in ("choices", "method", "resolution", "exchange", "pickup", "return_id"):
        visit.session.pop(key, None)
    return visit.redirect(f"/portal/returns/{token}?confirmed=1")


async def _email_confirmation(visit: Visit, to: str, return_id: str, token: str) -> None:
    """The confirmation with its status link, to the order's email (the shop's, not the form's);
    a mail server that fails is logged, the return goes ahead."""
    settings: Settings = visit.request.app.state.settings
    if not mail_configured(settings):
        return
    base = settings.portal_base_url or str(visit.request.base_url).rstrip("/")
    message = mail.confirmation(settings, visit.language, to, return_id, f"{base}/portal/returns/{token}")
    try:
        await send_mail(settings, message)
    except IntegrationError as error:
        log.warning("portal confirmation not emailed", return_id=return_id, error=error.code)
        return
    log.info("portal confirmation emailed", return_id=return_id)


# --- 6 and 7. Confirmation and status, by signed link ----------------------------------------------


async def _status_of(visit: Visit, token: str) -> tuple[str, ReturnStatus] | Response:
    try:
        return_id = visit.portal.signer.return_of(token)
    except LinkExpired:
        return visit.message(410, _("This link has expired"), _("Find your order again to see your return."))
    except LinkInvalid:
        return visit.message(404, _("We don't know this link"), _("Find your order again to see your return."))
    try:
        return return_id, await visit.returns.status(return_id)
    except ReturnNotFoundError:
        return visit.message(404, _("We don't know this return"), _("Find your order again to see your return."))


@pages.get("/returns/{token}", response_class=HTMLResponse)
async def return_page(request: Request, token: str) -> Response:
    return await _return(Visit(request), token)


async def _return(visit: Visit, token: str, error: str | None = None) -> Response:
    found = await _status_of(visit, token)
    if isinstance(found, Response):
        return found
    return_id, status = found
    label = status.label if not status.label_voided else None
    qr_origin = _origin(label.qr_code_url) if label and label.qr_code_url else None
    # A cancellation is asked of the workflow, which undoes what was done (the label, the reservation)
    # and then moves the return: the page says so until it has.
    cancelling = visit.request.query_params.get("cancelling") == "1" and status.stage is not Stage.cancelled
    return visit.render(
        "return.html",
        409 if error else 200,
        image_origin=qr_origin,
        status=status,
        return_id=return_id,
        token=token,
        label=label,
        confirmed=visit.request.query_params.get("confirmed") == "1",
        timeline=_moves(status),
        cancellable=status.stage in CANCELLABLE and not cancelling,
        cancelling=cancelling,
        moving=cancelling or is_moving(status),
        error=error,
        ship_by=status.deadlines.get("ship_by"),
        pickup_changeable=pickup_changeable(status),
        pickup_windows=_other_windows(visit, status) if pickup_changeable(status) else [],
        zone=visit.pickup_zone,
    )


def _other_windows(visit: Visit, status: ReturnStatus) -> list[PickupWindow]:
    """The windows the shopper may move the pickup to: those on offer but the one asked for."""
    wanted = status.pickup.wanted if status.pickup else None
    offered = _pickup_windows(visit, status.deadlines.get("ship_by"))
    return [w for w in offered if wanted is None or (w.start, w.end) != (wanted.start, wanted.end)]


def pickup_changeable(status: ReturnStatus) -> bool:
    """Whether the shopper may still move or cancel the carrier pickup (the workflow checks it too)."""
    pickup = status.pickup
    if pickup is None or status.stage is not Stage.label_issued or status.label is None or status.tracking_status:
        return False
    cancel_by = pickup.booked.cancel_by if pickup.booked else None
    return cancel_by is None or datetime.now(UTC) < cancel_by


def is_moving(status: ReturnStatus) -> bool:
    """Whether the return is taking a step of its own that lasts seconds (deciding, buying the label,
    a keep-it refund), so that the page may wait a moment for it rather than show it half done."""
    booking = status.pickup is not None and status.pickup.wanted is not None and status.pickup.booked is None
    return (
        status.stage is Stage.requested
        or (status.stage is Stage.approved and status.method is not ReturnMethod.in_store)
        or (status.stage is Stage.label_issued and booking)
    )


async def _after_its_next_step(returns: ReturnsClient, return_id: str, done: Callable[[ReturnStatus], bool]) -> None:
    """Waits (at most SETTLE_SECONDS) for the return to finish what it is doing, so the page that
    follows shows the label or the cancellation; a page never refreshes itself (WCAG 2.2.1)."""
    deadline = asyncio.get_running_loop().time() + SETTLE_SECONDS
    while asyncio.get_running_loop().time() < deadline:
        if done(await returns.status(return_id)):
            return
        await asyncio.sleep(0.1)


def _moves(status: ReturnStatus) -> list[tuple[datetime, Stage]]:
    """The timeline as the shopper reads it: each stage the return moved to, once, when it did."""
    moves: list[tuple[datetime, Stage]] = []
    for entry in status.timeline:
        if not moves or moves[-1][1] is not entry.stage:
            moves.append((entry.at, entry.stage))
    return moves


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


async def _form_about(visit: Visit, token: str) -> tuple[Visit, Mapping[str, Any], str, ReturnStatus] | Response:
    """A form posted on a return's status page: its fields, the return and its status; or the page
    that refuses it (no CSRF token, a link expired or unknown)."""
    form = await visit.form()
    if form is None:
        return visit.refused_form()
    found = await _status_of(visit, token)
    if isinstance(found, Response):
        return found
    return_id, status = found
    return visit, form, return_id, status


@pages.post("/returns/{token}/cancel", response_class=HTMLResponse)
async def cancel(request: Request, token: str) -> Response:
    asked = await _form_about(Visit(request), token)
    if isinstance(asked, Response):
        return asked
    visit, _form, return_id, _status = asked
    cancellation = Cancellation(
        actor=actor_id("shopper", "portal"), reason=SaidWhy.cancelled_on_the_portal, requested_by="shopper"
    )
    try:
        await visit.returns.cancel(return_id, cancellation, idempotency_key=f"portal-cancel-{return_id}")
    except ReturnStateError:
        return await _return(visit, token, _("It can't be cancelled any more: the parcel is on its way."))
    log.info("portal return cancelled", return_id=return_id)
    await _after_its_next_step(visit.returns, return_id, lambda status: status.stage is Stage.cancelled)
    return visit.redirect(f"/portal/returns/{token}?cancelling=1")


@pages.post("/returns/{token}/pickup", response_class=HTMLResponse)
async def move_pickup(request: Request, token: str) -> Response:
    """Books the carrier for another window (the earlier booking is given up), or for none."""
    asked = await _form_about(Visit(request), token)
    if isinstance(asked, Response):
        return asked
    visit, form, return_id, status = asked
    actor = actor_id("shopper", "portal")
    try:
        if form.get("pickup_window") == "none":
            action = OperatorAction(actor=actor, reason="no pickup: dropping it off")
            await visit.returns.cancel_pickup(return_id, action)
        else:
            window = _picked_window(visit, form, status.deadlines.get("ship_by"))
            if window is None:
                return await _return(visit, token, _("Choose one of the times offered."))
            change = PickupChange(actor=actor, reason="moved on the portal", window=window)
            await visit.returns.reschedule_pickup(return_id, change)
    except ReturnStateError:
        return await _return(visit, token, _("The pickup can't be changed any more."))
    except InvalidReturnInput:
        return await _return(visit, token, _("Choose one of the times offered."))
    log.info("portal pickup changed", return_id=return_id)
    await _after_its_next_step(visit.returns, return_id, lambda status: not is_moving(status))
    return visit.redirect(f"/portal/returns/{token}")
