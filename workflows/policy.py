"""The shop's return policy: a file the shop controls, copied into each return at its start.

    RETURN_POLICY_FILE=/etc/returns/policy.json   # unset: starter/return_policy.json, shipped with the package

Percentages are basis points (1% = 100 bp) so money stays integer arithmetic. Amounts are in
each currency's minor unit and given per currency (`{"USD": 599, "JPY": 800}`): a return in a
currency the policy does not price is declined. Every figure in a policy file must be able to
apply: `load_policy` refuses one that never could, with the reason.

Returns keep the policy they started with (it is in their history), so the model still reads
the older shape: amounts as plain numbers (any currency), and `restocking_fee_bp_by_grade`
instead of `grade_outcomes`.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workflows.vocabulary import Deadline, Grade, ReturnMethod

Days = Annotated[float, Field(gt=0, le=365)]
BasisPoints = Annotated[int, Field(ge=0, le=10_000)]
Amount = Annotated[int, Field(ge=0)]
# Per currency (`{"USD": 599}`), or one number for any currency (policies of returns started before).
Priced = Amount | dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")], Amount]


class PolicyError(ValueError):
    """A policy file that can't be used as it stands; the message says which figure and why."""


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LostParcelAction(StrEnum):
    refund = "refund"  # refund (or credit) the shopper anyway
    operator = "operator"  # wait for an operator to decide


class RefundFailureFallback(StrEnum):
    store_credit = "store_credit"
    operator = "operator"


class OutOfStockFallback(StrEnum):
    refund = "refund"
    store_credit = "store_credit"


class Deadlines(_Policy):
    review_days: Days = 2  # an operator decision, or the return is escalated
    ship_by_days: Days = 14  # first carrier scan, or the label is voided and the return expires
    # The shopper is reminded by email this long before the ship-by deadline if nothing was scanned (0: never).
    ship_by_reminder_days: float = Field(default=3, ge=0, le=365)
    transit_stall_days: Days = 7  # no carrier progress for this long: flagged for attention
    receiving_days: Days = 5  # after arrival, until the warehouse has received every unit (or graded them)
    inspection_sla_days: Days = 3  # after receiving, until the warehouse has graded every line
    refund_settle_days: Days = 10  # a pending refund is polled this often until it settles
    disposition_work_days: Days = 30  # after completion, how long the return waits for work orders to be confirmed
    # After a booked carrier pickup's window ends, how long a first scan may take before the pickup counts as missed.
    pickup_grace_days: Days = 0.5

    def duration(self, deadline: Deadline) -> timedelta:
        days = {
            Deadline.review: self.review_days,
            Deadline.ship_by: self.ship_by_days,
            Deadline.transit_stall: self.transit_stall_days,
            Deadline.receiving: self.receiving_days,
            Deadline.inspection_sla: self.inspection_sla_days,
            Deadline.refund_settle: self.refund_settle_days,
            Deadline.disposition_work: self.disposition_work_days,
            Deadline.pickup: self.pickup_grace_days,
        }[deadline]
        return timedelta(days=days)


class VendorOutage(_Policy):
    """How long a step waits out a vendor's outage (Stripe, Shippo, the shop platform answering 5xx
    or not at all) before an operator is asked: tried again after `first_retry_seconds`, each wait
    twice the last up to `longest_wait_seconds`, `attempts` tries in all. The default: ten tries
    over about six minutes (1, 2, 4 ... 64, then 120 s). A refusal (a 4xx) is not waited out."""

    first_retry_seconds: float = Field(default=1, gt=0, le=3_600)
    longest_wait_seconds: float = Field(default=120, gt=0, le=86_400)
    attempts: int = Field(default=10, ge=1, le=1_000)

    @model_validator(mode="after")
    def _longest_is_not_shorter(self) -> VendorOutage:
        if self.longest_wait_seconds < self.first_retry_seconds:
            raise ValueError("longest_wait_seconds is shorter than first_retry_seconds")
        return self


class GradeOutcome(_Policy):
    """What an inspected line earns back: a share of what was paid for it, less a restocking fee."""

    refund_bp: BasisPoints = 10_000  # 0: nothing back
    fee_bp: BasisPoints = 0  # of what the line earns back


class InstantRefundRule(_Policy):
    """Refund on the first carrier scan, before inspection, for low-risk returns."""

    enabled: bool = False
    max_amount: Priced = 5_000
    max_customer_returns: int = Field(default=3, ge=0)


class ReviewRule(_Policy):
    """Returns that wait for an operator's approval before anything is bought."""

    amount_over: Priced = 50_000
    customer_returns_over: int = Field(default=10, ge=0)


class DispositionRule(_Policy):
    return_to_vendor_categories: frozenset[str] = frozenset()
    donate_categories: frozenset[str] = frozenset()
    liquidate_below: Priced = 1_000  # repairable items worth less than this are liquidated, not refurbished
    destroy_categories: frozenset[str] = frozenset()  # e.g. hygiene items


class ReturnPolicy(_Policy):
    version: str = Field(min_length=1, max_length=64)
    return_window_days: Days = 30
    non_returnable_skus: frozenset[str] = frozenset()
    non_returnable_categories: frozenset[str] = frozenset()
    allowed_methods: frozenset[ReturnMethod] = frozenset(ReturnMethod)
    # What each grade earns back. None: the older rules (resellable grades back less
    # `restocking_fee_bp_by_grade`, damaged ones only when the shopper declared a shop fault).
    grade_outcomes: dict[Grade, GradeOutcome] | None = None
    # When the inspection confirms the shop's fault (a reason like `defective` that the grade or
    # the inspector's finding bears out): what the line earns back instead; no return shipping fee.
    shop_fault: GradeOutcome = GradeOutcome()
    restocking_fee_bp_by_grade: dict[Grade, BasisPoints] | None = None  # the older rules' fees (B: 10%)
    return_shipping_fee: Priced = 0  # deducted from the refund unless the shop was at fault
    keep_it_below: Priced = 0  # a line worth less than this may be kept (method keep_it)
    store_credit_bonus_bp: BasisPoints = 0
    instant_refund: InstantRefundRule = InstantRefundRule()
    review: ReviewRule = ReviewRule()
    dispositions: DispositionRule = DispositionRule()
    lost_parcel: LostParcelAction = LostParcelAction.operator
    refund_failure_fallback: RefundFailureFallback = RefundFailureFallback.operator
    exchange_out_of_stock: OutOfStockFallback = OutOfStockFallback.refund
    deadlines: Deadlines = Deadlines()
    vendor_outage: VendorOutage = VendorOutage()

    def priced(self, amount: Priced, currency: str) -> int | None:
        """An amount of the policy in `currency`; None when the policy does not price that currency."""
        return amount if isinstance(amount, int) else amount.get(currency)

    def prices(self, currency: str) -> bool:
        """Whether every amount of the policy is given in `currency`."""
        return all(self.priced(amount, currency) is not None for amount in self._amounts())

    def fees_by_grade(self) -> dict[Grade, int]:
        """The older rules' restocking fees: B pays 10% unless the policy says otherwise."""
        return self.restocking_fee_bp_by_grade if self.restocking_fee_bp_by_grade is not None else {Grade.b: 1_000}

    def _amounts(self) -> list[Priced]:
        return [
            self.return_shipping_fee,
            self.keep_it_below,
            self.instant_refund.max_amount,
            self.review.amount_over,
            self.dispositions.liquidate_below,
        ]


def load_policy(path: str | Path) -> ReturnPolicy:
    """Reads and validates a policy file; a bad file, or a figure in it that could never apply,
    raises (`PolicyError`, pydantic's `ValidationError`) before any return starts."""
    policy = ReturnPolicy.model_validate_json(Path(path).read_bytes())
    check_every_figure_applies(policy)
    return policy


def check_every_figure_applies(policy: ReturnPolicy) -> None:
    """Refuses a policy holding a figure that can never have an effect, saying which and why."""
    if policy.grade_outcomes is None:
        raise PolicyError("grade_outcomes: say what each grade earns back (refund_bp, fee_bp)")
    if policy.restocking_fee_bp_by_grade is not None:
        raise PolicyError("restocking_fee_bp_by_grade: no longer read; fees are grade_outcomes' fee_bp")
    for grade, outcome in [*policy.grade_outcomes.items(), ("shop_fault", policy.shop_fault)]:
        name = grade.value if isinstance(grade, Grade) else grade
        if outcome.refund_bp == 0 and outcome.fee_bp:
            raise PolicyError(f"{name}: a fee of {outcome.fee_bp} bp on a line that earns nothing back never applies")
    for grade in (Grade.wrong_item, Grade.missing):
        if grade in policy.grade_outcomes:
            raise PolicyError(f"grade_outcomes.{grade.value}: nothing of the order came back; it can't earn anything")
    currencies = {currency for amount in policy._amounts() if isinstance(amount, dict) for currency in amount}
    for currency in sorted(currencies):
        if not policy.prices(currency):
            raise PolicyError(f"{currency} is priced for some amounts only: every amount needs it, or none")
    if not policy.instant_refund.enabled and policy.instant_refund.model_fields_set - {"enabled"}:
        raise PolicyError("instant_refund: its limits never apply while it is not enabled")
    if ReturnMethod.keep_it not in policy.allowed_methods and "keep_it_below" in policy.model_fields_set:
        raise PolicyError("keep_it_below: never applies while keep_it is not an allowed method")
