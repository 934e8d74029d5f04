"""Database rows of the governance store (SQLAlchemy 2 declarative models).

Rows stay inside the storage modules; what leaves them are the frozen views defined next
to each storage function, so serving never holds an ORM object past its session. The
schema itself is created by the Alembic migrations in ``governance/store/migrations``, which
also install what the ORM cannot express (the append-only triggers on ``audit_events``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends.

    SQLite has no timezone type, so values are stored as naive UTC there and made aware
    again on the way out; the audit hash relies on both backends returning the same value.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class PolicyVersionRow(Base):
    """Every applied policy, never updated: the active one is the highest version."""

    __tablename__ = "policy_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text)  # the YAML as applied
    document: Mapped[str] = mapped_column(Text)  # canonical JSON of the validated policy
    sha256: Mapped[str] = mapped_column(String(64))
    applied_at: Mapped[datetime]
    applied_by: Mapped[str] = mapped_column(String(200))


class AuditEventRow(Base):
    """One link of the hash chain. UPDATE and DELETE are refused by database triggers."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON: exactly the hashed text
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_events_subject", "subject_type", "subject_id"),
        Index("ix_audit_events_kind", "kind"),
        Index("ix_audit_events_at", "at"),
    )


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the token
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, to recognise a key
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime | None]  # None: never (keys made before expiry existed)


class RecommendationRow(Base):
    """What was recommended and why it was routed. The full payload is in its audit event
    (``subject_type="recommendation"``, ``subject_id=id``), found through the subject index."""

    __tablename__ = "recommendations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(1000), index=True)
    model_name: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(100))
    score: Mapped[float | None] = mapped_column(Float)
    action: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str | None] = mapped_column(String(100))
    threshold_name: Mapped[str] = mapped_column(String(100))
    threshold: Mapped[float | None] = mapped_column(Float)
    policy_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class QueueItemRow(Base):
    """A recommendation awaiting a human decision. ``version`` is the compare-and-set token."""

    __tablename__ = "queue_items"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    queue: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(1000))
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"))
    action: Mapped[str] = mapped_column(String(32))  # what the policy recommended
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_role: Mapped[str | None] = mapped_column(String(32))
    required_approvals: Mapped[int] = mapped_column(Integer)
    approvals: Mapped[int] = mapped_column(Integer, default=0)
    approval_round: Mapped[int] = mapped_column(Integer, default=0)  # +1 when an edit voids them
    quantity: Mapped[float | None] = mapped_column(Float)  # current proposed quantity
    unit_value: Mapped[float | None] = mapped_column(Float)  # value per unit of quantity
    policy_version: Mapped[int] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)  # small context for reviewers
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_queue_items_queue_status", "queue", "status", "created_at"),
        Index("ix_queue_items_status_due", "status", "due_at"),
        # The workbench's ranked queues (migration 0005): index-only change checks.
        Index("ix_queue_items_pending_versions", "queue", "status", "version", "created_at", "id"),
        Index("ix_queue_items_queue_decided", "queue", "decided_at"),
    )


class ApprovalRow(Base):
    """One approver's approval of one quantity; approvals of an outdated quantity lapse."""

    __tablename__ = "queue_approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("queue_items.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime]

    # Distinct approvers are enforced by the rules and, as a last line, by the database.
    __table_args__ = (
        UniqueConstraint("item_id", "round", "actor", name="uq_queue_approvals_item_round_actor"),
    )


class IdempotencyRow(Base):
    """The stored outcome of one (caller, Idempotency-Key) pair until it expires."""

    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    caller: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    completed_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("caller", "key", name="uq_idempotency_records_caller_key"),)


class InventoryEventRow(Base):
    """A stock position reported by the WMS/ERP; replayed into live state at start-up."""

    __tablename__ = "inventory_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    snapshot_date: Mapped[datetime]
    item_id: Mapped[str] = mapped_column(String(200))
    location_id: Mapped[str] = mapped_column(String(200))
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the fields that were set
    actor: Mapped[str] = mapped_column(String(200))


class LineOutcomeRow(Base):
    """What happened to an order line (shipped, delivered): monitoring and retraining."""

    __tablename__ = "line_outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    order_id: Mapped[str] = mapped_column(String(200))
    line_no: Mapped[int] = mapped_column(Integer)
    shipped_qty: Mapped[float] = mapped_column(Float)
    ship_date: Mapped[datetime | None]
    delivered_date: Mapped[datetime | None]
    status: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))

    __table_args__ = (Index("ix_line_outcomes_line", "order_id", "line_no"),)


class MonitoringAlertRow(Base):
    """One day of one monitoring alert, pointing at the queue item it opened (migration
    0006): at most one per (model, kind, feature, day), whatever the runs."""

    __tablename__ = "monitoring_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    feature: Mapped[str] = mapped_column(String(300))
    day: Mapped[str] = mapped_column(String(10))
    queue_item_id: Mapped[str] = mapped_column(ForeignKey("queue_items.id"))
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint(
            "model_name",
            "kind",
            "feature",
            "day",
            name="uq_monitoring_alerts_model_kind_feature_day",
        ),
    )
