"""Table-driven tests of the business rules and the policy file, no server involved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from activities.models import OrderFacts, OrderLine
from devstack.checkout import DEMO_LINES, SHOPPER, WAREHOUSE
from starter.policy import load_return_policy
from workflows import rules
from workflows.models import LineStatus, ReturnRequest
from workflows.policy import DispositionRule, InstantRefundRule, ReturnPolicy, ReviewRule, load_policy
from workflows.vocabulary import (
    Deadline,
    DeclineReason,
    Disposition,
    Grade,
    ReasonCode,
    Reception,
    ReturnMethod,
    Stage,
    TrackingStatus,
)

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 23, tzinfo=UTC)
POLICY = ReturnPolicy(version="t", return_shipping_fee=500, restocking_fee_bp_by_grade={Grade.b: 1_000})


def _line(
    line_id: str = "L1",
    grade: Grade | None = Grade.a,
    reason: ReasonCode = ReasonCode.unwanted,
    unit_price: int = 1000,
    quantity: int = 1,
    received: int = 0,
) -> LineStatus:
    return LineStatus(
        line_id=line_id,
        sku=f"SKU-{line_id}",
        quantity=quantity,
        unit_price=unit_price,
        reason=reason,
        grade=grade,
        received_quantity=received,
    )


def _order(
    delivered_days_ago: float = 3, returnable: bool = True, category: str = "apparel", returns: int = 0
) -> OrderFacts:
    return OrderFacts(
        order_id="O-1",
        customer_id="C-1",
        currency="USD",
        delivered_at=NOW - timedelta(days=delivered_days_ago),
        lines=[
            OrderLine(
                line_id=line.line_id,
                sku=line.sku,
                category=category,
                quantity=line.quantity,
                unit_price=line.unit_price,
                returnable=returnable,
            )
            for line in DEMO_LINES
        ],
        customer_return_count=returns,
    )


def _request(**changes: object) -> ReturnRequest:
    request = ReturnRequest(
        return_id="R-1",
        order_id="O-1",
        customer_id="C-1",
        currency="USD",
        payment_intent_id="pi_1",
        lines=DEMO_LINES,
        customer_address=SHOPPER,
        warehouse_address=WAREHOUSE,
    )
    return request.model_copy(update=changes)


# --- Stages ---------------------------------------------------------------------------------


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
        (Stage.approved, TrackingStatus.transit, Stage.approved),  # no label yet: not ours
        (Stage.cancelled, TrackingStatus.delivered, Stage.cancelled),
    ],
)
def test_stage_after_scan(current: Stage, scan: TrackingStatus, expected: Stage) -> None:
    assert rules.stage_after_scan(current, scan) is expected


@pytest.mark.parametrize(
    ("stage", "reference", "expected"),
    [
        (Stage.delivered, Stage.in_transit, True),
        (Stage.in_transit, Stage.delivered, False),
        (Stage.completed, Stage.completed, True),
        (Stage.expired, Stage.requested, False),  # exits are past nothing
    ],
)
def test_is_at_or_past(stage: Stage, reference: Stage, expected: bool) -> None:
    assert rules.is_at_or_past(stage, reference) is expected


# --- Eligibility ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_changes", "order", "policy_changes", "declined"),
    [
        ({}, _order(), {}, {}),
        ({}, _order(delivered_days_ago=31), {}, {"L1": "outside_return_window", "L2": "outside_return_window"}),
        ({"return_to_origin": True}, _order(delivered_days_ago=90), {}, {}),  # a bounced parcel has no window
        ({}, _order(returnable=False), {}, {"L1": "non_returnable", "L2": "non_returnable"}),
        (
            {},
            _order(category="final_sale"),
            {"non_returnable_categories": frozenset({"final_sale"})},
            {"L1": "non_returnable", "L2": "non_returnable"},
        ),
        ({}, _order(), {"non_returnable_skus": frozenset({"MUG-WHITE"})}, {"L2": "non_returnable"}),
        (
            {"method": ReturnMethod.in_store},
            _order(),
            {"allowed_methods": frozenset({ReturnMethod.mail_label})},
            {"L1": "method_not_allowed", "L2": "method_not_allowed"},
        ),
        (
            {"method": ReturnMethod.keep_it},
            _order(),
            {"keep_it_below": 2_000},
            {"L1": "method_not_allowed"},
        ),  # 2 x 25.00 is worth shipping
        (
            {
                "lines": [
                    DEMO_LINES[0].model_copy(update={"quantity": 3}),
                    DEMO_LINES[1].model_copy(update={"sku": "OTHER"}),
                ]
            },
            _order(),
            {},
            {"L1": "quantity_exceeded", "L2": "not_in_order"},
        ),
        ({"lines": [DEMO_LINES[0].model_copy(update={"unit_price": 9_999})]}, _order(), {}, {"L1": "price_mismatch"}),
    ],
)
def test_assess_declines_line_by_line(
    request_changes: dict, order: OrderFacts, policy_changes: dict, declined: dict[str, str]
) -> None:
    assessment = rules.assess(_request(**request_changes), order, POLICY.model_copy(update=policy_changes), NOW)
    assert {line_id: reason.value for line_id, reason in assessment.declined.items()} == declined


@pytest.mark.parametrize(
    ("review", "order", "needs_review"),
    [
        (ReviewRule(amount_over=10_000), _order(), False),  # 62.00 in total
        (ReviewRule(amount_over=5_000), _order(), True),
        (ReviewRule(customer_returns_over=2), _order(returns=3), True),
        (ReviewRule(customer_returns_over=3), _order(returns=3), False),
    ],
)
def test_assess_sends_risky_returns_to_review(review: ReviewRule, order: OrderFacts, needs_review: bool) -> None:
    assessment = rules.assess(_request(), order, POLICY.model_copy(update={"review": review}), NOW)
    assert (assessment.review_reason is not None) is needs_review


def test_assess_reports_each_line_s_category() -> None:
    assert rules.assess(_request(), _order(category="books"), POLICY, NOW).categories == {"L1": "books", "L2": "books"}


@pytest.mark.parametrize(
    ("rule", "method", "value", "returns", "instant"),
    [
        (InstantRefundRule(enabled=False), ReturnMethod.mail_label, 100, 0, False),
        (InstantRefundRule(enabled=True, max_amount=5_000), ReturnMethod.mail_label, 5_000, 0, True),
        (InstantRefundRule(enabled=True, max_amount=5_000), ReturnMethod.mail_label, 5_001, 0, False),
        (InstantRefundRule(enabled=True, max_customer_returns=1), ReturnMethod.mail_label, 100, 2, False),
        (InstantRefundRule(enabled=True), ReturnMethod.in_store, 100, 0, False),  # no carrier scan to trust
    ],
)
def test_instant_refund_rule(
    rule: InstantRefundRule, method: ReturnMethod, value: int, returns: int, instant: bool
) -> None:
    policy = POLICY.model_copy(update={"instant_refund": rule})
    assert rules.qualifies_for_instant_refund(_request(method=method), value, returns, policy) is instant


# --- Inspection and disposition -------------------------------------------------------------------

_DISPOSITIONS = DispositionRule(
    return_to_vendor_categories=frozenset({"electronics"}),
    donate_categories=frozenset({"books"}),
    destroy_categories=frozenset({"hygiene"}),
    liquidate_below=1_000,
)


@pytest.mark.parametrize(
    ("grade", "category", "unit_price", "disposition"),
    [
        (Grade.a, "apparel", 5_000, Disposition.restock),
        (Grade.b, "apparel", 5_000, Disposition.restock),
        (Grade.c, "apparel", 5_000, Disposition.refurbish),
        (Grade.c, "apparel", 999, Disposition.liquidate),
        (Grade.c, "books", 5_000, Disposition.donate),
        (Grade.c, "electronics", 5_000, Disposition.return_to_vendor),
        (Grade.d, "electronics", 5_000, Disposition.return_to_vendor),
        (Grade.d, "apparel", 5_000, Disposition.recycle),
        (Grade.a, "hygiene", 5_000, Disposition.destroy),
        (Grade.wrong_item, "apparel", 5_000, None),
        (Grade.missing, "apparel", 5_000, None),
    ],
)
def test_disposition_for(grade: Grade, category: str, unit_price: int, disposition: Disposition | None) -> None:
    policy = POLICY.model_copy(update={"dispositions": _DISPOSITIONS})
    assert rules.disposition_for(grade, category, unit_price, policy) is disposition


@pytest.mark.parametrize(
    ("grade", "received", "receipts", "reception"),
    [
        (Grade.a, 0, False, Reception.received),  # no receipts: the inspection proves arrival
        (Grade.a, 1, True, Reception.short_shipped),
        (Grade.a, 2, True, Reception.received),
        (Grade.wrong_item, 2, True, Reception.wrong_item_received),
        (Grade.missing, 0, True, Reception.not_shipped),
        (Grade.missing, 1, True, Reception.short_shipped),
    ],
)
def test_reception_after_inspection(grade: Grade, received: int, receipts: bool, reception: Reception) -> None:
    assert rules.reception_after_inspection(_line(quantity=2, received=received), grade, receipts) is reception


# --- Money ----------------------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("lines", "shipped", "receipts", "expected"),
    [
        ([_line(grade=Grade.a, unit_price=2500, quantity=2)], True, False, (5000, 500, 4500)),
        ([_line(grade=Grade.a, unit_price=2500, quantity=2)], False, False, (5000, 0, 5000)),  # no label, no fee
        ([_line(grade=Grade.b, unit_price=2000)], True, False, (2000, 200 + 500, 1300)),  # 10 % restocking fee
        ([_line(grade=Grade.b, unit_price=2000, reason=ReasonCode.defective)], True, False, (2000, 0, 2000)),
        ([_line(grade=Grade.d, unit_price=2000)], True, False, (0, 0, 0)),  # nothing earns money: no fee either
        ([_line(grade=Grade.a, unit_price=300)], True, False, (300, 300, 0)),  # fees never exceed the value
        ([_line(grade=Grade.a, unit_price=2500, quantity=2, received=1)], False, True, (2500, 0, 2500)),  # short
        ([_line(grade=None, unit_price=2500)], True, False, (0, 0, 0)),  # not inspected
    ],
)
def test_settle(lines: list[LineStatus], shipped: bool, receipts: bool, expected: tuple[int, int, int]) -> None:
    settlement = rules.settle(lines, POLICY, shipped=shipped, receipts_recorded=receipts)
    assert (settlement.gross, settlement.fees, settlement.net) == expected


def test_settle_unseen_assumes_grade_a_and_skips_declined_lines() -> None:
    declined = _line("L2", grade=None, unit_price=9_999).model_copy(update={"declined": DeclineReason.non_returnable})
    settlement = rules.settle_unseen([_line(grade=None, unit_price=2500), declined], POLICY, shipped=True)
    assert (settlement.gross, settlement.net) == (2500, 2000)


@pytest.mark.parametrize(("amount", "bonus_bp", "expected"), [(1000, 0, 1000), (1000, 1000, 1100), (999, 1000, 1098)])
def test_with_bonus(amount: int, bonus_bp: int, expected: int) -> None:
    assert rules.with_bonus(amount, bonus_bp) == expected


# --- The policy file ----------------------------------------------------------------------------


def test_the_policy_shipped_in_the_package_loads_without_a_file_named() -> None:
    policy = load_return_policy(None)
    assert policy == load_policy(ROOT / "starter" / "return_policy.json")
    assert policy.version and policy.deadlines.duration(Deadline.ship_by) == timedelta(
        days=policy.deadlines.ship_by_days
    )


@pytest.mark.parametrize(
    "broken",
    [
        '{"version": ""}',
        '{"version": "x", "restocking_fee_bp_by_grade": {"B": 20000}}',
        '{"version": "x", "surprise": 1}',
    ],
)
def test_a_broken_policy_file_is_refused(tmp_path: Path, broken: str) -> None:
    path = tmp_path / "policy.json"
    path.write_text(broken)
    with pytest.raises(ValidationError):
        load_policy(path)
