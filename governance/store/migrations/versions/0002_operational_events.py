"""Operational events serving receives: inventory positions and order-line outcomes.

Live state (stock positions, delivery history) is rebuilt at start-up from the served
model's snapshot plus these events, and outcomes feed monitoring and retraining.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inventory_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snapshot_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("location_id", sa.String(200), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inventory_events"),
    )
    op.create_index("ix_inventory_events_received_at", "inventory_events", ["received_at"])
    op.create_table(
        "line_outcomes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("order_id", sa.String(200), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("shipped_qty", sa.Float(), nullable=False),
        sa.Column("ship_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_line_outcomes"),
    )
    op.create_index("ix_line_outcomes_received_at", "line_outcomes", ["received_at"])
    op.create_index("ix_line_outcomes_line", "line_outcomes", ["order_id", "line_no"])


def downgrade() -> None:
    op.drop_table("line_outcomes")
    op.drop_table("inventory_events")
