"""The warehouse's receiving: a focused field a USB barcode scanner types the parcel's tracking
number (or the return id) into and presses Enter; then the units per line, then a grade per line,
then the disposition work confirmed. Each step is the workflow's own update (its validator refuses
an unknown line, a second inspection...), recorded under the person signed in."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError

from api.auth import Role
from console.desk import Desk, admits, pages, problems
from console.queues import SEARCH_TERM
from portal.photos import PhotoRefused, checked_photos, photo_store
from starter.client import ReturnsClient
from starter.errors import InvalidReturnInput, ReturnNotFoundError, ReturnStateError
from workflows.models import (
    DispositionConfirmation,
    InspectionReport,
    LineInspection,
    ParcelReceipt,
    ReceivedLine,
    ReturnStatus,
)
from workflows.vocabulary import Disposition, Grade

log = structlog.get_logger(__name__)


def open_lines(status: ReturnStatus) -> list[Any]:
    """The lines still to grade: accepted for return, not graded yet."""
    return [line for line in status.lines if line.declined is None and line.grade is None and line.quantity > 0]


@pages.get("/receiving", response_class=HTMLResponse)
@admits(Role.warehouse)
async def receiving(desk: Desk) -> Response:
    scanned = desk.request.query_params.get("scan", "").strip()
    if not scanned:
        return desk.render("receiving.html")
    return_id = await _return_of(desk, scanned)
    if return_id is None:
        error = f"No return has the tracking number or id {scanned!r}. Set the parcel aside for an operator."
        return desk.render("receiving.html", 404, error=error, scanned=scanned)
    return desk.redirect(f"/console/receiving/{return_id}?scanned=1")


async def _return_of(desk: Desk, scanned: str) -> str | None:
    if not SEARCH_TERM.fullmatch(scanned):
        return None
    by_tracking = await desk.returns.find_return_by_tracking_number(scanned)
    if by_tracking is not None:
        return by_tracking
    try:
        await desk.returns.status(scanned)
    except (ReturnNotFoundError, InvalidReturnInput):
        return None
    return scanned


@pages.get("/receiving/{return_id}", response_class=HTMLResponse)
@admits(Role.warehouse)
async def parcel(desk: Desk, return_id: str) -> Response:
    try:
        status = await desk.returns.status(return_id)
    except (ReturnNotFoundError, InvalidReturnInput):
        return desk.render("receiving.html", 404, error=f"No return {return_id!r}.")
    return _parcel_page(desk, status)


def _parcel_page(desk: Desk, status: ReturnStatus, status_code: int = 200, error: str | None = None) -> Response:
    to_grade = open_lines(status)
    received = any(line.received_quantity or line.wrong_item_quantity for line in status.lines)
    # units still expected, per line not graded yet: a second parcel may bring them
    expected = {
        line.line_id: line.quantity - line.received_quantity - line.wrong_item_quantity
        for line in to_grade
        if line.quantity > line.received_quantity + line.wrong_item_quantity
    }
    # work orders the warehouse confirms done (a restock is done when it is recorded)
    to_confirm = [
        line
        for line in status.lines
        if line.disposition_work_id
        and line.disposition is not Disposition.restock
        and not line.disposition_confirmed_by
    ]
    if error is None and not to_grade and desk.request.query_params.get("scanned"):
        # A parcel scanned again: say so, so it isn't put away twice.
        if any(line.grade for line in status.lines):
            then = "confirm its disposition work below." if to_confirm else "nothing to receive or grade."
            error = f"Return {status.return_id} is already inspected ({status.stage.value}): {then}"
        else:
            error = f"Return {status.return_id} is {status.stage.value}: nothing to receive."
    return desk.render(
        "parcel.html",
        status_code,
        status=status,
        to_grade=to_grade,
        received=received,
        expected=expected,
        to_confirm=to_confirm,
        grades=list(Grade),
        photos=bool(desk.request.app.state.settings.portal_photo_dir),
        form_id=secrets.token_hex(8),
        error=error,
    )


async def _send(desk: Desk, return_id: str, sending: Awaitable[Any]) -> Response:
    """Sends a warehouse update; back to the parcel's page, with the refusal when there is one."""
    try:
        await sending
    except ReturnStateError as error:
        refused = f"Refused: the return is {error.stage.value}: {error.reason}"
    except InvalidReturnInput as error:
        refused = f"Refused: {error.message}"
    except ReturnNotFoundError:
        return desk.render("receiving.html", 404, error=f"No return {return_id!r}.")
    else:
        return desk.redirect(f"/console/receiving/{return_id}", "Recorded.")
    return _parcel_page(desk, await desk.returns.status(return_id), 409, refused)


def _update_id(desk: Desk, form: Mapping[str, Any], what: str, return_id: str) -> str:
    """One update per form shown: a scanner's double Enter or a resent form records it once."""
    form_id = str(form.get("form_id", ""))[:32] or secrets.token_hex(8)
    return f"{what}:console-{desk.person.key_id if desk.person else '-'}:{form_id}:{return_id}"


async def _recorded(
    desk: Desk,
    return_id: str,
    what: str,
    build: Callable[[Mapping[str, Any], ReturnStatus, str, str], Awaitable[BaseModel]],
    send: Callable[..., Awaitable[Any]],
) -> Response:
    """A warehouse form: its CSRF token checked, its update built from the form, the return's
    status and the person signed in (`build(form, status, update_id, actor)`; the actor is never a
    form field), sent (`send`, a ReturnsClient method) and answered."""
    form = await desk.form()
    if form is None:
        return desk.refused_form()
    try:
        status = await desk.returns.status(return_id)
    except (ReturnNotFoundError, InvalidReturnInput):
        return desk.render("receiving.html", 404, error=f"No return {return_id!r}.")
    update_id = _update_id(desk, form, what, return_id)
    try:
        payload = await build(form, status, update_id, desk.actor)
    except PhotoRefused as refused:  # before ValueError: it is one, with the shopper portal's words
        megabytes = "%g" % (desk.request.app.state.settings.portal_photo_max_bytes / 1_000_000)
        return desk.message(400, "Check the photos", str(refused) % {"mb": megabytes})
    except ValidationError as error:
        return desk.message(400, "Check the form", problems(error))
    except ValueError:
        return desk.message(400, "Check the form", "Units are whole numbers.")
    return await _send(desk, return_id, send(desk.returns, return_id, payload, idempotency_key=update_id))


async def _receipt(form: Mapping[str, Any], status: ReturnStatus, update_id: str, actor: str) -> ParcelReceipt:
    lines = [
        ReceivedLine(
            line_id=line.line_id,
            quantity=int(form.get(f"units-{line.line_id}") or 0),
            wrong_item=form.get(f"wrong-{line.line_id}") == "yes",
        )
        for line in status.lines
        if line.declined is None and f"units-{line.line_id}" in form  # the lines the form asked about
    ]
    return ParcelReceipt(receipt_id=update_id.split(":")[2], received_by=actor, lines=lines)


def _grading(desk: Desk) -> Callable[[Mapping[str, Any], ReturnStatus, str, str], Awaitable[InspectionReport]]:
    """The inspection a grading form records: a grade, notes and up to 3 photos per line (checked
    by their content and kept like the shopper's, in PORTAL_PHOTO_DIR; the report carries links)."""
    settings = desk.request.app.state.settings
    store = photo_store(settings, str(desk.request.base_url))

    async def grades(form: Mapping[str, Any], status: ReturnStatus, update_id: str, actor: str) -> InspectionReport:
        lines = open_lines(status)
        photos = {
            line.line_id: await checked_photos(
                form.getlist(f"photos-{line.line_id}"),  # type: ignore[attr-defined]
                max_bytes=settings.portal_photo_max_bytes,
                taken=store is not None,
            )
            for line in lines
        }
        graded = [
            LineInspection(
                line_id=line.line_id,
                grade=form.get(f"grade-{line.line_id}"),
                notes=str(form.get(f"notes-{line.line_id}") or "").strip() or None,
                photo_urls=[await store.keep(content, kind) for content, kind in photos[line.line_id]] if store else [],
            )
            for line in lines
        ]
        return InspectionReport(inspector=actor, lines=graded)

    return grades


@pages.post("/receiving/{return_id}/receipt", response_class=HTMLResponse)
@admits(Role.warehouse)
async def receive(desk: Desk, return_id: str) -> Response:
    return await _recorded(desk, return_id, "receipt", _receipt, ReturnsClient.record_receipt)


@pages.post("/receiving/{return_id}/inspection", response_class=HTMLResponse)
@admits(Role.warehouse)
async def inspect(desk: Desk, return_id: str) -> Response:
    return await _recorded(desk, return_id, "inspection", _grading(desk), ReturnsClient.record_inspection)


@pages.post("/receiving/{return_id}/confirm", response_class=HTMLResponse)
@admits(Role.warehouse)
async def confirm(desk: Desk, return_id: str) -> Response:
    return await _recorded(desk, return_id, "confirm", _confirmation, ReturnsClient.confirm_disposition)


async def _confirmation(
    form: Mapping[str, Any], status: ReturnStatus, update_id: str, actor: str
) -> DispositionConfirmation:
    return DispositionConfirmation(line_id=form.get("line_id"), confirmed_by=actor)
