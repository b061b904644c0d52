"""The shop's return policy: a file the shop controls, copied into each return at its start.

    RETURN_POLICY_FILE=config/return_policy.json   # default; see that file for an example

Percentages are basis points (1% = 100 bp) so money stays integer arithmetic.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from workflows.vocabulary import Deadline, Grade, ReturnMethod

Days = Annotated[float, Field(gt=0, le=365)]
BasisPoints = Annotated[int, Field(ge=0, le=10_000)]
Amount = Annotated[int, Field(ge=0)]


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
    transit_stall_days: Days = 7  # no carrier progress for this long: flagged for attention
    receiving_days: Days = 5  # after arrival, until the warehouse has received every unit (or graded them)
    inspection_sla_days: Days = 3  # after receiving, until the warehouse has graded every line
    refund_settle_days: Days = 10  # a pending refund is polled this often until it settles
    disposition_work_days: Days = 30  # after completion, how long the return waits for work orders to be confirmed

    def duration(self, deadline: Deadline) -> timedelta:
        days = {
            Deadline.review: self.review_days,
            Deadline.ship_by: self.ship_by_days,
            Deadline.transit_stall: self.transit_stall_days,
            Deadline.receiving: self.receiving_days,
            Deadline.inspection_sla: self.inspection_sla_days,
            Deadline.refund_settle: self.refund_settle_days,
            Deadline.disposition_work: self.disposition_work_days,
        }[deadline]
        return timedelta(days=days)


class InstantRefundRule(_Policy):
    """Refund on the first carrier scan, before inspection, for low-risk returns."""

    enabled: bool = False
    max_amount: Amount = 5_000
    max_customer_returns: int = Field(default=3, ge=0)


class ReviewRule(_Policy):
    """Returns that wait for an operator's approval before anything is bought."""

    amount_over: Amount = 50_000
    customer_returns_over: int = Field(default=10, ge=0)


class DispositionRule(_Policy):
    return_to_vendor_categories: frozenset[str] = frozenset()
    donate_categories: frozenset[str] = frozenset()
    liquidate_below: Amount = 1_000  # repairable items worth less than this are liquidated, not refurbished
    destroy_categories: frozenset[str] = frozenset()  # e.g. hygiene items


class ReturnPolicy(_Policy):
    version: str = Field(min_length=1, max_length=64)
    return_window_days: Days = 30
    non_returnable_skus: frozenset[str] = frozenset()
    non_returnable_categories: frozenset[str] = frozenset()
    allowed_methods: frozenset[ReturnMethod] = frozenset(ReturnMethod)
    restocking_fee_bp_by_grade: dict[Grade, BasisPoints] = Field(default_factory=lambda: {Grade.b: 1_000})
    return_shipping_fee: Amount = 0  # deducted from the refund unless the shop was at fault
    keep_it_below: Amount = 0  # a line worth less than this may be kept (method keep_it)
    store_credit_bonus_bp: BasisPoints = 0
    instant_refund: InstantRefundRule = InstantRefundRule()
    review: ReviewRule = ReviewRule()
    dispositions: DispositionRule = DispositionRule()
    lost_parcel: LostParcelAction = LostParcelAction.operator
    refund_failure_fallback: RefundFailureFallback = RefundFailureFallback.operator
    exchange_out_of_stock: OutOfStockFallback = OutOfStockFallback.refund
    deadlines: Deadlines = Deadlines()


def load_policy(path: str | Path) -> ReturnPolicy:
    """Reads and validates a policy file; a bad file raises before any return starts."""
    return ReturnPolicy.model_validate_json(Path(path).read_bytes())
