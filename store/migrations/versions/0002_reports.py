"""Report indexes and daily rollups (store.rollups), filled from the detail tables.

Each report's period is a range on one of the return's dates; open and needs-attention returns
are a small part of the table, so their indexes are partial; each duration has an index in
(method, duration) order for percentiles by index walk; the customer index covers the
per-customer counts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_categories",
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("returns", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("units_back", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("currency", "category", "day", name=op.f("pk_rollup_categories")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_dispositions",
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("disposition", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("currency", "disposition", "day", name=op.f("pk_rollup_dispositions")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_money",
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("returns_resolved", sa.BigInteger(), nullable=False),
        sa.Column("returned_value", sa.BigInteger(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("refund_pending", sa.BigInteger(), nullable=False),
        sa.Column("refund_failed", sa.BigInteger(), nullable=False),
        sa.Column("credited", sa.BigInteger(), nullable=False),
        sa.Column("credit_bonus", sa.BigInteger(), nullable=False),
        sa.Column("exchanged", sa.BigInteger(), nullable=False),
        sa.Column("fees_kept", sa.BigInteger(), nullable=False),
        sa.Column("keep_it_cost", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("currency", "day", name=op.f("pk_rollup_money")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_reasons",
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("returns", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("units_back", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("currency", "reason", "day", name=op.f("pk_rollup_reasons")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_skus",
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("returns", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("units_back", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("currency", "sku", "category", "day", name=op.f("pk_rollup_skus")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("return_lines", schema=None) as batch_op:
        batch_op.create_index("ix_return_lines_inspected_at", ["inspected_at"], unique=False)
        batch_op.create_index("ix_return_lines_requested_at", ["requested_at"], unique=False)

    with op.batch_alter_table("returns", schema=None) as batch_op:
        batch_op.create_index(
            "ix_returns_attention",
            ["attention_step", "attention_error_type"],
            unique=False,
            sqlite_where=sa.text("needs_attention"),
            postgresql_where=sa.text("needs_attention"),
        )
        batch_op.create_index("ix_returns_closed_at", ["closed_at"], unique=False)
        batch_op.create_index("ix_returns_customer", ["customer_id", "requested_at", "units_requested"], unique=False)
        batch_op.create_index(
            "ix_returns_delivered_to_inspected_s", ["method", "delivered_to_inspected_s", "inspected_at"], unique=False
        )
        batch_op.create_index("ix_returns_first_scan_at", ["first_scan_at"], unique=False)
        batch_op.create_index("ix_returns_inspected_at", ["inspected_at"], unique=False)
        batch_op.create_index(
            "ix_returns_inspected_to_resolved_s", ["method", "inspected_to_resolved_s", "resolved_at"], unique=False
        )
        batch_op.create_index(
            "ix_returns_open",
            ["stage", "requested_at"],
            unique=False,
            sqlite_where=sa.text("is_open"),
            postgresql_where=sa.text("is_open"),
        )
        batch_op.create_index(
            "ix_returns_request_to_first_scan_s", ["method", "request_to_first_scan_s", "first_scan_at"], unique=False
        )
        batch_op.create_index(
            "ix_returns_request_to_resolved_s", ["method", "request_to_resolved_s", "resolved_at"], unique=False
        )
        batch_op.create_index("ix_returns_requested_at", ["requested_at"], unique=False)
        batch_op.create_index("ix_returns_resolved_at", ["resolved_at"], unique=False)

    _backfill()


def _backfill() -> None:
    """Rollups of what the store already holds (nothing, on a new store)."""
    if op.get_bind().dialect.name == "sqlite":

        def day(column: str) -> str:
            return f"date({column})"
    else:

        def day(column: str) -> str:
            return f"CAST(({column} AT TIME ZONE 'UTC') AS date)"

    line_figures = "sum(quantity), sum(units_back), sum(quantity * unit_price)"
    for table, keys, counts in (
        ("rollup_reasons", "reason", "counts_reason"),
        ("rollup_categories", "coalesce(category, '')", "counts_category"),
        ("rollup_skus", "sku, coalesce(category, '')", "counts_sku"),
    ):
        columns = (
            "reason" if table == "rollup_reasons" else "category" if table == "rollup_categories" else "sku, category"
        )
        op.execute(
            f"INSERT INTO {table} (currency, {columns}, day, returns, lines, units, units_back, value) "
            f"SELECT currency, {keys}, {day('requested_at')}, sum({counts}), count(*), {line_figures} "
            f"FROM return_lines WHERE declined IS NULL GROUP BY currency, {keys}, {day('requested_at')}"
        )
    op.execute(
        "INSERT INTO rollup_dispositions (currency, disposition, day, lines, units, value) "
        f"SELECT currency, disposition, {day('inspected_at')}, count(*), sum(units_back), sum(units_back * unit_price) "
        "FROM return_lines WHERE declined IS NULL AND disposition IS NOT NULL AND inspected_at IS NOT NULL "
        f"GROUP BY currency, disposition, {day('inspected_at')}"
    )
    op.execute(
        "INSERT INTO rollup_money (currency, day, returns_resolved, returned_value, refunded, refund_pending, "
        "refund_failed, credited, credit_bonus, exchanged, fees_kept, keep_it_cost) "
        f"SELECT currency, {day('resolved_at')}, count(*), sum(returned_value), sum(refunded), sum(refund_pending), "
        "sum(refund_failed), sum(credited), sum(credit_bonus), sum(exchanged_value), sum(fees), "
        "sum(CASE WHEN method = 'keep_it' THEN refunded + credited + refund_pending ELSE 0 END) "
        f"FROM returns WHERE resolved_at IS NOT NULL GROUP BY currency, {day('resolved_at')}"
    )


def downgrade() -> None:
    with op.batch_alter_table("returns", schema=None) as batch_op:
        batch_op.drop_index("ix_returns_resolved_at")
        batch_op.drop_index("ix_returns_requested_at")
        batch_op.drop_index("ix_returns_request_to_resolved_s")
        batch_op.drop_index("ix_returns_request_to_first_scan_s")
        batch_op.drop_index("ix_returns_open", sqlite_where=sa.text("is_open"), postgresql_where=sa.text("is_open"))
        batch_op.drop_index("ix_returns_inspected_to_resolved_s")
        batch_op.drop_index("ix_returns_inspected_at")
        batch_op.drop_index("ix_returns_first_scan_at")
        batch_op.drop_index("ix_returns_delivered_to_inspected_s")
        batch_op.drop_index("ix_returns_customer")
        batch_op.drop_index("ix_returns_closed_at")
        batch_op.drop_index(
            "ix_returns_attention", sqlite_where=sa.text("needs_attention"), postgresql_where=sa.text("needs_attention")
        )

    with op.batch_alter_table("return_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_return_lines_requested_at")
        batch_op.drop_index("ix_return_lines_inspected_at")

    op.drop_table("rollup_skus")
    op.drop_table("rollup_reasons")
    op.drop_table("rollup_money")
    op.drop_table("rollup_dispositions")
    op.drop_table("rollup_categories")
