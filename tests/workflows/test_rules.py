"""Table-driven tests of the business rules, no server involved."""

import pytest

from workflows import rules
from workflows.models import Disposition, Grade, LineStatus, ReasonCode, Stage, TrackingStatus


def _line(
    line_id: str, grade: Grade | None, reason: ReasonCode, unit_price: int = 1000, quantity: int = 1
) -> LineStatus:
    return LineStatus(
        line_id=line_id,
        sku=f"SKU-{line_id}",
        quantity=quantity,
        unit_price=unit_price,
        reason=reason,
        grade=grade,
        disposition=rules.disposition_for(grade) if grade else None,
    )


@pytest.mark.parametrize(
    ("current", "scan", "expected"),
    [
        (Stage.label_issued, TrackingStatus.pre_transit, Stage.label_issued),
        (Stage.label_issued, TrackingStatus.transit, Stage.in_transit),
        (Stage.label_issued, TrackingStatus.delivered, Stage.delivered),  # a missed transit scan
        (Stage.in_transit, TrackingStatus.delivered, Stage.delivered),
        (Stage.delivered, TrackingStatus.transit, Stage.delivered),  # late scan: never backwards
        (Stage.inspecting, TrackingStatus.delivered, Stage.inspecting),
        (Stage.in_transit, TrackingStatus.unknown, Stage.in_transit),
        (Stage.in_transit, TrackingStatus.failure, Stage.in_transit),
    ],
)
def test_stage_after_scan(current: Stage, scan: TrackingStatus, expected: Stage) -> None:
    assert rules.stage_after_scan(current, scan) is expected


@pytest.mark.parametrize(
    ("grade", "disposition"),
    [
        (Grade.a, Disposition.restock),
        (Grade.b, Disposition.restock),
        (Grade.c, Disposition.refurbish),
        (Grade.d, Disposition.recycle),
        (Grade.wrong_item, None),
        (Grade.missing, None),
    ],
)
def test_disposition_for(grade: Grade, disposition: Disposition | None) -> None:
    assert rules.disposition_for(grade) is disposition


@pytest.mark.parametrize(
    ("grade", "reason", "refundable"),
    [
        (Grade.a, ReasonCode.unwanted, True),
        (Grade.b, ReasonCode.size_too_small, True),
        (Grade.c, ReasonCode.unwanted, False),
        (Grade.c, ReasonCode.defective, True),
        (Grade.d, ReasonCode.damaged_in_transit, True),
        (Grade.d, ReasonCode.style, False),
        (Grade.wrong_item, ReasonCode.wrong_item, False),
        (Grade.missing, ReasonCode.defective, False),
    ],
)
def test_is_refundable(grade: Grade, reason: ReasonCode, refundable: bool) -> None:
    assert rules.is_refundable(grade, reason) is refundable


def test_refund_amount_counts_quantity_and_skips_rejected_and_uninspected_lines() -> None:
    lines = [
        _line("L1", Grade.a, ReasonCode.unwanted, unit_price=2500, quantity=2),
        _line("L2", Grade.d, ReasonCode.unwanted, unit_price=1200),
        _line("L3", Grade.c, ReasonCode.defective, unit_price=999),
        _line("L4", None, ReasonCode.unwanted, unit_price=5000),
    ]
    assert rules.refund_amount(lines) == 2 * 2500 + 999


def test_lines_to_restock_are_the_resellable_ones() -> None:
    lines = [
        _line("L1", Grade.a, ReasonCode.unwanted),
        _line("L2", Grade.b, ReasonCode.unwanted),
        _line("L3", Grade.c, ReasonCode.unwanted),
        _line("L4", Grade.missing, ReasonCode.unwanted),
    ]
    assert [line.line_id for line in rules.lines_to_restock(lines)] == ["L1", "L2"]


@pytest.mark.parametrize(
    ("stage", "reference", "expected"),
    [
        (Stage.delivered, Stage.in_transit, True),
        (Stage.in_transit, Stage.delivered, False),
        (Stage.completed, Stage.completed, True),
    ],
)
def test_is_at_or_past(stage: Stage, reference: Stage, expected: bool) -> None:
    assert rules.is_at_or_past(stage, reference) is expected
