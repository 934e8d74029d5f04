"""Indexes the review workbench reads a ranked queue by.

A queue page checks on every request whether the queue's pending items moved (count,
versions, newest) and, when they did, which items were created or decided since: both are
index-only reads with these, instead of a lookup of every pending row (10,000 pending
items: ~54 → ~9 ms and ~126 → ~27 ms on a loaded 2-core host, benchmarks/ui.py).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_queue_items_pending_versions",
        "queue_items",
        ["queue", "status", "version", "created_at", "id"],
    )
    op.create_index("ix_queue_items_queue_decided", "queue_items", ["queue", "decided_at"])


def downgrade() -> None:
    op.drop_index("ix_queue_items_queue_decided", table_name="queue_items")
    op.drop_index("ix_queue_items_pending_versions", table_name="queue_items")
