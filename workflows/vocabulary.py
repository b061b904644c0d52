"""The trade's vocabulary: stages, methods, reasons, grades, dispositions."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """Where a return is. The main path only moves forward, in this order; the last four
    are exits. `needs_attention` is a flag beside the stage, not a stage."""

    requested = "requested"  # accepted for processing, eligibility not yet decided
    needs_review = "needs_review"  # waiting for an operator to approve or reject
    approved = "approved"  # eligible; nothing bought yet
    label_issued = "label_issued"  # label (or QR code) issued, waiting for the first carrier scan
    in_transit = "in_transit"  # the carrier has the parcel
    delivered = "delivered"  # at the warehouse (or store), being received
    inspecting = "inspecting"  # every line graded; dispositions running
    resolving = "resolving"  # refund, store credit or exchange under way
    completed = "completed"  # resolved; nothing left to do
    declined = "declined"  # not eligible, or rejected by an operator
    cancelled = "cancelled"  # by the shopper or an operator; compensated
    expired = "expired"  # never shipped by the ship-by deadline; label voided
    failed_needs_attention = "failed_needs_attention"  # reserved: an operator closed it unresolved


CLOSED_STAGES = frozenset(
    {Stage.completed, Stage.declined, Stage.cancelled, Stage.expired, Stage.failed_needs_attention}
)


class ReturnMethod(StrEnum):
    mail_label = "mail_label"  # prepaid label, optionally with a QR code
    drop_off = "drop_off"  # label-less QR code at a partner location
    in_store = "in_store"  # brought to a store: no label, waits for the store's receipt
    keep_it = "keep_it"  # returnless: resolved without shipping anything
    pickup = "pickup"  # a label, and the carrier collects the parcel in a window the shopper chose


class ResolutionKind(StrEnum):
    refund = "refund"  # to the original payment method
    store_credit = "store_credit"
    exchange = "exchange"


class ReasonCode(StrEnum):
    size_too_small = "size_too_small"
    size_too_large = "size_too_large"
    unwanted = "unwanted"
    not_as_described = "not_as_described"
    wrong_item = "wrong_item"
    defective = "defective"
    damaged_in_transit = "damaged_in_transit"
    style = "style"
    color = "color"
    other = "other"


class TrackingStatus(StrEnum):
    """Shippo's tracking statuses, the carrier-neutral vocabulary of scans."""

    pre_transit = "PRE_TRANSIT"
    transit = "TRANSIT"
    delivered = "DELIVERED"
    returned = "RETURNED"
    failure = "FAILURE"
    unknown = "UNKNOWN"


class Grade(StrEnum):
    """Inspection grade of one returned line."""

    a = "A"  # new, resellable
    b = "B"  # opened, resellable
    c = "C"  # damaged, repairable
    d = "D"  # unusable
    wrong_item = "wrong_item"
    missing = "missing"


class Disposition(StrEnum):
    restock = "restock"
    refurbish = "refurbish"
    liquidate = "liquidate"
    recycle = "recycle"
    return_to_vendor = "return_to_vendor"
    donate = "donate"
    destroy = "destroy"


class Reception(StrEnum):
    """Per-line reception state at the warehouse."""

    awaiting = "awaiting"
    received = "received"
    short_shipped = "short_shipped"  # fewer units than announced arrived
    wrong_item_received = "wrong_item_received"
    lost_in_transit = "lost_in_transit"
    not_shipped = "not_shipped"


class DeclineReason(StrEnum):
    outside_return_window = "outside_return_window"
    non_returnable = "non_returnable"
    quantity_exceeded = "quantity_exceeded"
    not_in_order = "not_in_order"
    price_mismatch = "price_mismatch"
    method_not_allowed = "method_not_allowed"
    currency_not_priced = "currency_not_priced"  # the policy gives no fees or limits in the order's currency
    rejected_by_operator = "rejected_by_operator"


class RefundState(StrEnum):
    """Stripe's refund statuses."""

    pending = "pending"
    requires_action = "requires_action"
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"


class Deadline(StrEnum):
    """The clocks a return runs; each one's length is in the policy (`deadlines.<name>_days`)."""

    review = "review"  # an operator decision, or the return is escalated
    ship_by = "ship_by"  # a first carrier scan, or the label is voided and the return expires
    transit_stall = "transit_stall"  # carrier progress, or the parcel is flagged
    receiving = "receiving"  # after arrival, every unit received, or the return is flagged
    inspection_sla = "inspection_sla"  # every line graded, or the return is flagged
    refund_settle = "refund_settle"  # a pending refund is polled this often; a succeeded one watched this long
    disposition_work = "disposition_work"  # after completion, the warehouse confirms work orders done, or it closes
    pickup = "pickup"  # after a booked pickup window ends, a first carrier scan, or the missed pickup is flagged


class Decision(StrEnum):
    """What a return can wait for an operator to decide, and what approve and reject mean there."""

    review = "review"  # approve: go ahead; reject: decline
    lost_parcel = "lost_parcel"  # approve: resolve anyway; reject: decline
    instant_refund_shortfall = "instant_refund_shortfall"  # approve: accept the loss
    refund_failed = "refund_failed"  # approve: store credit instead; reject: close unresolved


class WayOut(StrEnum):
    """What an operator can do with a step that failed for good, besides retrying it."""

    store_credit = "store_credit"  # a refund that can't be made: pay the shopper in store credit instead
    close_unresolved = "close_unresolved"  # any step: close the return unresolved, with the reason recorded


class Verdict(StrEnum):
    approve = "approve"
    reject = "reject"

    @property
    def past_tense(self) -> str:
        return {Verdict.approve: "approved", Verdict.reject: "rejected"}[self]
