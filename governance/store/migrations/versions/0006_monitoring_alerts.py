"""Monitoring alerts: which (model, kind, feature, day) already opened a queue item.

``stockpilot monitor`` opens one ``model-monitoring`` queue item per drifting feature and
run, listing the days; a row per day here keeps a re-run (or an overlapping one) from
opening the same alert twice: the unique constraint is the last line of that rule.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monitoring_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_name", sa.String(100), nullable=False),
        sa.Column("model_version", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("feature", sa.String(300), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("queue_item_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitoring_alerts"),
        sa.ForeignKeyConstraint(
            ["queue_item_id"],
            ["queue_items.id"],
            name="fk_monitoring_alerts_queue_item_id_queue_items",
        ),
        sa.UniqueConstraint(
            "model_name",
            "kind",
            "feature",
            "day",
            name="uq_monitoring_alerts_model_kind_feature_day",
        ),
    )


def downgrade() -> None:
    op.drop_table("monitoring_alerts")
