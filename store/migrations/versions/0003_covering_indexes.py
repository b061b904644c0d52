"""Indexes the million-return benchmark called for (docs/benchmarks.md, "The event store").

SQLite looked rows up one by one where an index named the rows but not their columns: return
rates (units sold), customers, durations with a currency, expired labels took 4-12 s over a
year. These indexes cover those queries; the partial indexes now spell their predicate as each
database writes a boolean test (SQLite `x = 1`), so its planner can use them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_DURATIONS = (
    ("request_to_first_scan_s", "first_scan_at"),
    ("delivered_to_inspected_s", "inspected_at"),
    ("inspected_to_resolved_s", "resolved_at"),
    ("request_to_resolved_s", "resolved_at"),
)


def _partial(name: str, columns: list[str], flag: str) -> None:
    op.create_index(name, "returns", columns, sqlite_where=sa.text(f"{flag} = 1"), postgresql_where=sa.text(flag))


def upgrade() -> None:
    op.create_index("ix_units_sold_rates", "units_sold", ["sku", "currency", "day", "units", "category"])
    op.drop_index("ix_returns_customer", "returns")
    op.create_index("ix_returns_customer", "returns", ["customer_id", "requested_at", "units_requested", "currency"])
    for duration, dated in _DURATIONS:
        op.drop_index(f"ix_returns_{duration}", "returns")
        op.create_index(f"ix_returns_{duration}", "returns", ["method", duration, dated, "currency"])
    op.drop_index("ix_returns_closed_at", "returns")
    op.create_index("ix_returns_expired", "returns", ["stage", "closed_at"])
    op.drop_index("ix_returns_open", "returns")
    _partial("ix_returns_open", ["stage", "requested_at"], "is_open")
    op.drop_index("ix_returns_attention", "returns")
    _partial("ix_returns_attention", ["attention_step", "attention_error_type"], "needs_attention")


def downgrade() -> None:
    op.drop_index("ix_returns_attention", "returns")
    op.create_index(
        "ix_returns_attention",
        "returns",
        ["attention_step", "attention_error_type"],
        sqlite_where=sa.text("needs_attention"),
        postgresql_where=sa.text("needs_attention"),
    )
    op.drop_index("ix_returns_open", "returns")
    op.create_index(
        "ix_returns_open",
        "returns",
        ["stage", "requested_at"],
        sqlite_where=sa.text("is_open"),
        postgresql_where=sa.text("is_open"),
    )
    op.drop_index("ix_returns_expired", "returns")
    op.create_index("ix_returns_closed_at", "returns", ["closed_at"])
    for duration, dated in _DURATIONS:
        op.drop_index(f"ix_returns_{duration}", "returns")
        op.create_index(f"ix_returns_{duration}", "returns", ["method", duration, dated])
    op.drop_index("ix_returns_customer", "returns")
    op.create_index("ix_returns_customer", "returns", ["customer_id", "requested_at", "units_requested"])
    op.drop_index("ix_units_sold_rates", "units_sold")
