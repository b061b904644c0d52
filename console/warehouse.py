"""The warehouse's receiving: a focused field a USB barcode scanner types the parcel's tracking
number (or the return id) into and presses Enter; then the units per line, then a grade per line,
then the disposition work confirmed. Each step is the workflow's own update (its validator refuses
an unknown line, a second inspection...), recorded under the person signed in."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Mapping
from typing import Any

import structlog
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api.auth import Role
from console.desk import Desk, admits, pages
from console.queues import SEARCH_TERM
from starter.errors import InvalidReturnInput, ReturnNotFoundError, ReturnStateError
from workflows.models import (
    DispositionConfirmation,
    InspectionReport,
    LineInspection,
    ParcelReceipt,
    ReceivedLine,
    ReturnStatus,
)
from workflows.vocabulary import Grade

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
    to_confirm = [line for line in status.lines if line.disposition_work_id and not line.disposition_confirmed_by]
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
        to_confirm=to_confirm,
        grades=list(Grade),
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


def _invalid(desk: Desk, error: ValidationError) -> Response:
    problem = InvalidReturnInput.from_validation(error)
    text = "; ".join(f"{field}: {message}" for field, message in problem.problems)
    return desk.message(400, "Check the form", text)


@pages.post("/receiving/{return_id}/receipt", response_class=HTMLResponse)
@admits(Role.warehouse)
async def receive(desk: Desk, return_id: str) -> Response:
    form = await desk.form()
    if form is None:
        return desk.refused_form()
    status = await desk.returns.status(return_id)
    try:
        lines = [
            ReceivedLine(
                line_id=line.line_id,
                quantity=int(form.get(f"units-{line.line_id}") or 0),
                wrong_item=form.get(f"wrong-{line.line_id}") == "yes",
            )
            for line in status.lines
            if line.declined is None
        ]
        update_id = _update_id(desk, form, "receipt", return_id)
        receipt = ParcelReceipt(receipt_id=update_id.split(":")[2], received_by=desk.actor, lines=lines)
    except ValidationError as error:
        return _invalid(desk, error)
    except ValueError:
        return desk.message(400, "Check the form", "Units are whole numbers.")
    return await _send(desk, return_id, desk.returns.record_receipt(return_id, receipt, idempotency_key=update_id))


@pages.post("/receiving/{return_id}/inspection", response_class=HTMLResponse)
@admits(Role.warehouse)
async def inspect(desk: Desk, return_id: str) -> Response:
    form = await desk.form()
    if form is None:
        return desk.refused_form()
    status = await desk.returns.status(return_id)
    try:
        graded = [
            LineInspection(
                line_id=line.line_id,
                grade=form.get(f"grade-{line.line_id}"),
                notes=str(form.get(f"notes-{line.line_id}") or "").strip() or None,
            )
            for line in open_lines(status)
        ]
        report = InspectionReport(inspector=desk.actor, lines=graded)
    except ValidationError as error:
        return _invalid(desk, error)
    update_id = _update_id(desk, form, "inspection", return_id)
    return await _send(desk, return_id, desk.returns.record_inspection(return_id, report, idempotency_key=update_id))


@pages.post("/receiving/{return_id}/confirm", response_class=HTMLResponse)
@admits(Role.warehouse)
async def confirm(desk: Desk, return_id: str) -> Response:
    form = await desk.form()
    if form is None:
        return desk.refused_form()
    try:
        confirmation = DispositionConfirmation(line_id=form.get("line_id"), confirmed_by=desk.actor)
    except ValidationError as error:
        return _invalid(desk, error)
    update_id = _update_id(desk, form, "confirm", return_id)
    sending = desk.returns.confirm_disposition(return_id, confirmation, idempotency_key=update_id)
    return await _send(desk, return_id, sending)
