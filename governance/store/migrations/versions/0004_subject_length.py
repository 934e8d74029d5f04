"""Recommendation subjects hold the ids they are about: up to 1000 characters.

A subject is built from request ids of up to 200 characters each (a substitution's is
customer, item and location), so 200 characters refused valid requests (found by the
schemathesis run) and would have broken PostgreSQL's varchar(200) outright.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("recommendations", "queue_items")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "subject", type_=sa.String(1000), existing_type=sa.String(200), nullable=False
            )


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "subject", type_=sa.String(200), existing_type=sa.String(1000), nullable=False
            )
