"""Business rules of a return, as plain functions: no I/O, no clock, no Temporal.

The workflow calls these; tests call them directly. Changing one changes the decisions
of returns already running, so a change here needs the patching discipline (README).
"""

from __future__ import annotations

from collections.abc import Iterable

from workflows.models import Disposition, Grade, LineStatus, ReasonCode, Stage, TrackingStatus

_STAGE_ORDER = {stage: index for index, stage in enumerate(Stage)}

# The shop is at fault for these reasons, so a damaged item is still refunded.
_SHOP_AT_FAULT = frozenset(
    {ReasonCode.defective, ReasonCode.damaged_in_transit, ReasonCode.wrong_item, ReasonCode.not_as_described}
)

_DISPOSITION_BY_GRADE = {
    Grade.a: Disposition.restock,
    Grade.b: Disposition.restock,
    Grade.c: Disposition.refurbish,
    Grade.d: Disposition.recycle,
}


def is_at_or_past(stage: Stage, reference: Stage) -> bool:
    return _STAGE_ORDER[stage] >= _STAGE_ORDER[reference]


def stage_after_scan(current: Stage, scan: TrackingStatus) -> Stage:
    """The stage a carrier scan leads to. A late or repeated scan never moves a return back."""
    target = {
        TrackingStatus.transit: Stage.in_transit,
        TrackingStatus.delivered: Stage.delivered,
    }.get(scan)
    if target is None or is_at_or_past(current, target):
        return current
    return target


def disposition_for(grade: Grade) -> Disposition | None:
    """What happens to an inspected item; None when there is nothing to dispose of."""
    return _DISPOSITION_BY_GRADE.get(grade)


def is_refundable(grade: Grade, reason: ReasonCode) -> bool:
    """Resellable items are refunded; damaged ones only when the shop was at fault."""
    if grade in (Grade.a, Grade.b):
        return True
    if grade in (Grade.c, Grade.d):
        return reason in _SHOP_AT_FAULT
    return False  # wrong_item or missing: nothing of ours came back


def refund_amount(lines: Iterable[LineStatus]) -> int:
    """Sum, in minor units, of the inspected lines that earn a refund."""
    return sum(
        line.unit_price * line.quantity
        for line in lines
        if line.grade is not None and is_refundable(line.grade, line.reason)
    )


def lines_to_restock(lines: Iterable[LineStatus]) -> list[LineStatus]:
    return [line for line in lines if line.disposition is Disposition.restock]

