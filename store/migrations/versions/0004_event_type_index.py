"""An index on the events' type and time: the needs-attention trend counts one kind of event per
day, reading only those (not every event of the period).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_type_created_at", "events", ["type", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_events_type_created_at", "events")
