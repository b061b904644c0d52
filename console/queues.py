"""The operator's queues: each one a visibility query over the return's search attributes, so a
queue's count is the server's count and its pages are the visibility API's pages, however many
returns there are (no workflow is asked to answer a listing)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from starter.visibility import OPEN, in_stage_since_before
from store.finder import ReturnsWanted
from workflows.contract import workflow_id_for
from workflows.policy import ReturnPolicy
from workflows.search_attributes import (
    CUSTOMER_ID,
    NEEDS_ATTENTION,
    ORDER_ID,
    RETURN_STAGE,
    TRACKING_NUMBER,
)
from workflows.vocabulary import Stage

STUCK_DAYS = 7  # the default of "stuck in its stage for more than N days"
LABELS_EXPIRING_WITHIN_DAYS = 3
# What a search term may be (ids, order numbers, tracking numbers): nothing that closes a quote.
SEARCH_TERM = re.compile(r"[A-Za-z0-9_.:#-]{1,64}")


def _in_stage(stage: Stage) -> str:
    return f"{RETURN_STAGE.name} = '{stage.value}'"


def _in_stage_since_before(stage: Stage | None, moment: datetime) -> str:
    since = in_stage_since_before(moment, beside_a_stage=stage is not None)
    return f"{_in_stage(stage)} AND {since}" if stage else since


@dataclass(frozen=True)
class Queue:
    slug: str
    title: str
    what: str  # what its returns wait for, in a sentence
    query: Callable[[datetime, ReturnPolicy, int], str] | None  # (now, policy, stuck days) -> visibility query
    attention: bool = False  # its rows show why (each return's status is read for its page)
    bulk: str | None = None  # the action its selection may take (console/operator.py: BULK)
    wanted: ReturnsWanted | None = None  # a queue of the event store's read model, not of visibility


QUEUES = (
    Queue(
        "needs-review",
        "Needs review",
        "An operator approves or rejects the request (the review reason is on each return).",
        lambda now, policy, days: f"{_in_stage(Stage.needs_review)} AND {OPEN}",
        attention=True,
        bulk="approve",
    ),
    Queue(
        "needs-attention",
        "Needs attention",
        "A step failed for good or a decision is waiting (lost parcel, refund failed, instant-refund shortfall).",
        lambda now, policy, days: (
            f"{NEEDS_ATTENTION.name} = 'true' AND {RETURN_STAGE.name} != '{Stage.needs_review.value}' AND {OPEN}"
        ),
        attention=True,
        bulk="retry",
    ),
    Queue(
        "waiting-for-a-decision",
        "Waiting for a decision",
        "A lost parcel, a failed refund or an instant-refund shortfall: approve or reject (the event store's view).",
        None,
        attention=True,
        wanted=ReturnsWanted(waiting_for_a_decision=True),
    ),
    Queue(
        "in-transit-too-long",
        "In transit too long",
        "The carrier has had the parcel longer than the transit-stall deadline.",
        lambda now, policy, days: _in_stage_since_before(
            Stage.in_transit, now - timedelta(days=policy.deadlines.transit_stall_days)
        ),
    ),
    Queue(
        "not-inspected",
        "Delivered, not inspected",
        "At the warehouse longer than receiving plus the inspection SLA.",
        lambda now, policy, days: _in_stage_since_before(
            Stage.delivered,
            now - timedelta(days=policy.deadlines.receiving_days + policy.deadlines.inspection_sla_days),
        ),
    ),
    Queue(
        "labels-expiring",
        "Labels expiring soon",
        f"Labels unused, with the ship-by deadline in the next {LABELS_EXPIRING_WITHIN_DAYS} days.",
        lambda now, policy, days: _in_stage_since_before(
            Stage.label_issued, now - timedelta(days=policy.deadlines.ship_by_days - LABELS_EXPIRING_WITHIN_DAYS)
        ),
    ),
    Queue(
        "stuck",
        "Stuck in a stage",
        "Open returns in the same stage for more than the chosen number of days.",
        lambda now, policy, days: _in_stage_since_before(None, now - timedelta(days=days)),
    ),
)
QUEUE_BY_SLUG = {queue.slug: queue for queue in QUEUES}


def customers_query(customer_ids: list[str], stage: Stage | None) -> str:
    """Returns of these customers (ids from the shop platform, found by email), in `stage`."""
    quoted = ", ".join(f"'{customer_id}'" for customer_id in customer_ids if SEARCH_TERM.fullmatch(customer_id))
    clauses = [f"{CUSTOMER_ID.name} IN ({quoted})"] + ([_in_stage(stage)] if stage else [])
    return " AND ".join(clauses)


def search_query(term: str | None, stage: Stage | None) -> str | None:
    """Returns whose id, order, customer or tracking number is `term`, in `stage`; None for a term
    that can't be any of them."""
    clauses = []
    if term:
        if not SEARCH_TERM.fullmatch(term):
            return None
        clauses.append(
            f"(WorkflowId = '{workflow_id_for(term)}' OR {ORDER_ID.name} = '{term}'"
            f" OR {CUSTOMER_ID.name} = '{term}' OR {TRACKING_NUMBER.name} = '{term}')"
        )
    if stage:
        clauses.append(_in_stage(stage))
    return " AND ".join(clauses)
