"""Finding returns in the read model by what visibility doesn't hold (a SKU, the method, a
line's reason, the day requested) and the returns waiting for an operator's decision (flagged
with no failed step): one page at a time, newest request first unless sorted by another column
(`SORTS`), with the count of all matches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from store.schema import return_lines, returns
from store.store import EventStore

_SHOWN = (
    returns.c.return_id,
    returns.c.order_id,
    returns.c.customer_id,
    returns.c.stage,
    returns.c.method,
    returns.c.is_open,
    returns.c.needs_attention,
    returns.c.requested_at,
    returns.c.closed_at,
)


# What a page may be sorted by: a column, each ending on the return id so pages never overlap.
SORTS = {
    "newest": (returns.c.requested_at.desc(), returns.c.return_id),
    "oldest": (returns.c.requested_at, returns.c.return_id),
    "return": (returns.c.return_id,),
    "stage": (returns.c.stage, returns.c.requested_at.desc(), returns.c.return_id),
    "order": (returns.c.order_id, returns.c.return_id),
    "customer": (returns.c.customer_id, returns.c.requested_at.desc(), returns.c.return_id),
}


@dataclass(frozen=True)
class ReturnsWanted:
    """All given ones must hold."""

    term: str | None = None  # the return id, order or customer
    sku: str | None = None
    method: str | None = None
    reason: str | None = None
    stage: str | None = None
    requested_from: date | None = None
    requested_to: date | None = None  # included
    waiting_for_a_decision: bool = False

    def conditions(self) -> list[ColumnElement[bool]]:
        r, lines = returns.c, return_lines.c
        found: list[ColumnElement[bool]] = []
        if self.term:
            found.append(or_(r.return_id == self.term, r.order_id == self.term, r.customer_id == self.term))
        if self.sku or self.reason:
            line = [lines.return_id == r.return_id]
            line += [lines.sku == self.sku] if self.sku else []
            line += [lines.reason == self.reason] if self.reason else []
            found.append(exists().where(and_(*line)))
        found += [r.method == self.method] if self.method else []
        found += [r.stage == self.stage] if self.stage else []
        if self.requested_from:
            found.append(r.requested_at >= datetime.combine(self.requested_from, time(0), tzinfo=UTC))
        if self.requested_to:
            found.append(r.requested_at < datetime.combine(self.requested_to + timedelta(days=1), time(0), tzinfo=UTC))
        if self.waiting_for_a_decision:
            # a decision flags the return without a failed step (workflows/steps.py: _await_decision)
            found += [r.is_open, r.needs_attention, r.attention_step.is_(None), r.stage != "needs_review"]
        return found


def find_returns(
    store: EventStore, wanted: ReturnsWanted, *, limit: int, offset: int = 0, sort: str = "newest"
) -> tuple[list[dict[str, Any]], int]:
    """One page of the matching returns (in `sort`'s order) and how many match in all."""
    if sort not in SORTS:
        raise ValueError(f"sort is one of {', '.join(SORTS)}")
    conditions = wanted.conditions()
    page = select(*_SHOWN).where(*conditions).order_by(*SORTS[sort]).limit(limit).offset(offset)
    counted = select(func.count()).select_from(returns).where(*conditions)
    with store.reading() as reader:
        rows = [dict(row) for row in reader.execute(page).mappings()]
        total = reader.execute(counted).scalar_one()
    return rows, total
