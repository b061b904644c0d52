"""Report indexes: each report's period is a range on one of the return's dates; open and
needs-attention returns are a small part of the table, so their indexes are partial.

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

_DATED = ("requested_at", "first_scan_at", "inspected_at", "resolved_at", "closed_at")


def upgrade() -> None:
    for column in _DATED:
        op.create_index(f"ix_returns_{column}", "returns", [column])
    op.create_index(
        "ix_returns_open",
        "returns",
        ["stage", "requested_at"],
        sqlite_where=sa.text("is_open"),
        postgresql_where=sa.text("is_open"),
    )
    op.create_index(
        "ix_returns_attention",
        "returns",
        ["attention_step", "attention_error_type"],
        sqlite_where=sa.text("needs_attention"),
        postgresql_where=sa.text("needs_attention"),
    )
    op.create_index("ix_return_lines_requested_at", "return_lines", ["requested_at"])
    op.create_index("ix_return_lines_inspected_at", "return_lines", ["inspected_at"])


def downgrade() -> None:
    for name in (
        "ix_return_lines_inspected_at",
        "ix_return_lines_requested_at",
        "ix_returns_attention",
        "ix_returns_open",
    ):
        op.drop_index(name)
    for column in reversed(_DATED):
        op.drop_index(f"ix_returns_{column}")
