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
from workflows.policy import (
    DispositionRule,
    GradeOutcome,
    InstantRefundRule,
    PolicyError,
    ReturnPolicy,
    ReviewRule,
    VendorOutage,
    load_policy,
)
from workflows.steps import STEP_RETRY, step_retry
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
    assert rules.qualifies_for_instant_refund(_request(method=method), value, returns, policy, "USD") is instant


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
    assert rules.disposition_for(grade, category, unit_price, policy, "USD") is disposition


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
    settlement = rules.settle(lines, POLICY, shipped=shipped, receipts_recorded=receipts, currency="USD")
    assert (settlement.gross, settlement.fees, settlement.net) == expected


def test_settle_unseen_assumes_grade_a_and_skips_declined_lines() -> None:
    declined = _line("L2", grade=None, unit_price=9_999).model_copy(update={"declined": DeclineReason.non_returnable})
    settlement = rules.settle_unseen(
        [_line(grade=None, unit_price=2500), declined], POLICY, shipped=True, currency="USD"
    )
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
        '{"version": "x", "vendor_outage": {"first_retry_seconds": 60, "longest_wait_seconds": 5}}',
        '{"version": "x", "vendor_outage": {"attempts": 0}}',
    ],
)
def test_a_broken_policy_file_is_refused(tmp_path: Path, broken: str) -> None:
    path = tmp_path / "policy.json"
    path.write_text(broken)
    with pytest.raises(ValidationError):
        load_policy(path)


# --- Per-grade outcomes, confirmed faults, currencies ---------------------------------------------

PER_GRADE = ReturnPolicy(
    version="grades",
    grade_outcomes={
        Grade.a: GradeOutcome(),
        Grade.b: GradeOutcome(fee_bp=1_000),
        Grade.c: GradeOutcome(fee_bp=2_000),
        Grade.d: GradeOutcome(refund_bp=0),
    },
    return_shipping_fee={"USD": 599, "EUR": 549, "JPY": 800, "KWD": 2_000, "ISK": 900},
    keep_it_below={"USD": 800, "EUR": 750, "JPY": 1_200, "KWD": 3_000, "ISK": 1_200},
    review=ReviewRule(amount_over={"USD": 50_000, "EUR": 46_000, "JPY": 75_000, "KWD": 150_000, "ISK": 70_000}),
    instant_refund=InstantRefundRule(
        max_amount={"USD": 5_000, "EUR": 4_600, "JPY": 7_500, "KWD": 15_000, "ISK": 7_000}
    ),
    dispositions=DispositionRule(liquidate_below={"USD": 1_000, "EUR": 950, "JPY": 1_500, "KWD": 3_000, "ISK": 1_400}),
)


@pytest.mark.parametrize(
    ("currency", "exponent", "amount", "refundable"),
    [
        ("JPY", 0, 1_234, 1_234),  # yen have no minor unit
        ("USD", 2, 1_234, 1_234),
        ("EUR", 2, 1_234, 1_234),
        ("KWD", 3, 1_234, 1_230),  # three decimals; Stripe refunds them in tens of fils
        ("ISK", 0, 1_234, 1_234),  # whole krónur (Stripe counts them in hundredths: the integration converts)
        ("USD", 2, -5, 0),
    ],
)
def test_amounts_follow_each_currencys_minor_unit_and_stripes_steps(
    currency: str, exponent: int, amount: int, refundable: int
) -> None:
    assert rules.minor_unit_exponent(currency) == exponent
    assert rules.refundable(amount, currency) == refundable


@pytest.mark.parametrize(
    ("currency", "unit_price", "grade", "expected"),
    [
        # (gross, fees, net): the line's price earns its grade's share, less the grade's fee and the shipping fee
        ("JPY", 3_000, Grade.c, (3_000, 600 + 800, 1_600)),
        ("USD", 2_500, Grade.c, (2_500, 500 + 599, 1_401)),
        ("EUR", 2_500, Grade.b, (2_500, 250 + 549, 1_701)),
        ("KWD", 12_345, Grade.a, (12_345, 2_000, 10_340)),  # 10_345 fils, refunded in tens
        ("ISK", 4_999, Grade.b, (4_999, 499 + 900, 3_600)),
        ("USD", 2_500, Grade.d, (0, 0, 0)),  # grade D earns nothing, so no fee either
    ],
)
def test_settle_by_grade_per_currency(
    currency: str, unit_price: int, grade: Grade, expected: tuple[int, int, int]
) -> None:
    settlement = rules.settle(
        [_line(grade=grade, unit_price=unit_price)], PER_GRADE, shipped=True, receipts_recorded=False, currency=currency
    )
    assert (settlement.gross, settlement.fees, settlement.net) == expected


@pytest.mark.parametrize(
    ("reason", "grade", "finding", "confirmed"),
    [
        (ReasonCode.defective, Grade.c, None, True),  # it came back broken: the grade bears it out
        (ReasonCode.damaged_in_transit, Grade.d, None, True),
        (ReasonCode.defective, Grade.a, None, False),  # it came back like new
        (ReasonCode.defective, Grade.c, False, False),  # the inspector says the shopper broke it
        (ReasonCode.not_as_described, Grade.b, None, False),  # only the inspector can tell
        (ReasonCode.not_as_described, Grade.b, True, True),
        (ReasonCode.wrong_item, Grade.a, True, True),
        (ReasonCode.unwanted, Grade.d, True, False),  # no fault was declared
        (ReasonCode.defective, Grade.missing, True, False),  # nothing of ours came back
    ],
)
def test_a_declared_fault_counts_only_when_the_inspection_bears_it_out(
    reason: ReasonCode, grade: Grade, finding: bool | None, confirmed: bool
) -> None:
    assert rules.fault_confirmed(reason, grade, finding) is confirmed


def test_a_confirmed_fault_waives_the_fees_of_its_line_and_the_shipping_fee() -> None:
    confirmed = _line("L1", Grade.c, ReasonCode.defective, 2_500).model_copy(update={"fault_confirmed": True})
    declared_only = _line("L2", Grade.b, ReasonCode.not_as_described, 1_000)
    settlement = rules.settle(
        [confirmed, declared_only], PER_GRADE, shipped=True, receipts_recorded=False, currency="USD"
    )
    # L1 in full, no fee; L2 pays its grade's 10% although its reason claims a fault; no shipping fee
    assert (settlement.gross, settlement.fees, settlement.net) == (3_500, 100, 3_400)


def test_the_older_rules_still_settle_returns_started_before_per_grade_outcomes() -> None:
    settlement = rules.settle(
        [_line("L1", Grade.c, ReasonCode.defective, 2_500), _line("L2", Grade.c, ReasonCode.unwanted, 1_000)],
        POLICY,
        shipped=True,
        receipts_recorded=False,
        currency="USD",
    )
    assert (settlement.gross, settlement.fees, settlement.net) == (2_500, 0, 2_500)


def test_a_return_in_a_currency_the_policy_does_not_price_is_declined_with_that_reason() -> None:
    order = _order().model_copy(update={"currency": "CHF"})
    assessment = rules.assess(_request(currency=None), order, PER_GRADE, NOW)
    assert set(assessment.declined.values()) == {DeclineReason.currency_not_priced}
    assert rules.assess(_request(), _order(), PER_GRADE, NOW).declined == {}


def test_keep_it_and_review_use_the_price_the_order_says_was_paid() -> None:
    cheap_claim = [line.model_copy(update={"unit_price": 1}) for line in DEMO_LINES]
    keep_it = rules.assess(_request(lines=cheap_claim, method=ReturnMethod.keep_it), _order(), PER_GRADE, NOW)
    assert set(keep_it.declined.values()) == {DeclineReason.method_not_allowed}  # 25.00 and 12.00 are not under 8.00


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"grade_outcomes": None}, "grade_outcomes: say what each grade earns back"),
        ({"restocking_fee_bp_by_grade": {Grade.b: 1_000}}, "restocking_fee_bp_by_grade: no longer read"),
        ({"grade_outcomes": {Grade.d: GradeOutcome(refund_bp=0, fee_bp=500)}}, "D: a fee of 500 bp on a line"),
        ({"grade_outcomes": {Grade.missing: GradeOutcome()}}, "grade_outcomes.missing: nothing of the order"),
        ({"return_shipping_fee": {"USD": 599, "EUR": 549, "GBP": 495, "JPY": 800, "CHF": 500}}, "CHF is priced"),
        ({"instant_refund": InstantRefundRule(max_amount=1)}, "instant_refund: its limits never apply"),
        ({"allowed_methods": frozenset({ReturnMethod.mail_label})}, "keep_it_below: never applies"),
    ],
)
def test_a_policy_file_holding_a_figure_that_can_never_apply_is_refused(
    tmp_path: Path, changes: dict[str, object], refusal: str
) -> None:
    shipped = load_return_policy(None)
    path = tmp_path / "policy.json"
    path.write_text(shipped.model_copy(update=changes).model_dump_json(exclude_unset=True))
    with pytest.raises(PolicyError, match=refusal):
        load_policy(path)


def test_a_pickup_window_goes_with_method_pickup_only() -> None:
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)
    window = {"start": start.isoformat(), "end": (start + timedelta(hours=3)).isoformat()}
    base = _request().model_dump(mode="json")
    assert ReturnRequest.model_validate(base | {"method": "pickup", "pickup": window}).pickup.start == start
    assert ReturnRequest.model_validate(base | {"method": "pickup"}).pickup is None  # asked for eligibility
    with pytest.raises(ValidationError, match="pickup window goes with method pickup only"):
        ReturnRequest.model_validate(base | {"method": "mail_label", "pickup": window})
    with pytest.raises(ValidationError, match="timezone"):
        ReturnRequest.model_validate(
            base | {"method": "pickup", "pickup": {"start": "2026-12-07T09:00", "end": "2026-12-07T12:00"}}
        )


def test_a_pickup_ships_a_parcel_and_pays_the_return_shipping_fee() -> None:
    assert rules.ships_a_parcel(ReturnMethod.pickup)


def test_a_vendor_outage_is_waited_out_as_the_policy_says() -> None:
    shipped = step_retry(load_return_policy(None).vendor_outage)
    assert shipped == STEP_RETRY and shipped.maximum_attempts == 10
    waits, wait = [], shipped.initial_interval.total_seconds()
    for _ in range(shipped.maximum_attempts - 1):  # the waits between ten tries
        waits.append(wait)
        wait = min(wait * shipped.backoff_coefficient, shipped.maximum_interval.total_seconds())
    assert waits == [1, 2, 4, 8, 16, 32, 64, 120, 120]  # 367 s: about six minutes, then an operator
    brief = step_retry(VendorOutage(first_retry_seconds=0.2, longest_wait_seconds=0.5, attempts=3))
    assert (brief.initial_interval, brief.maximum_interval, brief.maximum_attempts) == (
        timedelta(seconds=0.2),
        timedelta(seconds=0.5),
        3,
    )
