"""The alias moves training makes (``stockpilot train --alias``, ``retrain``), audited.

A move is recorded as ``model.alias_moved`` in the governance store's audit chain
(:func:`governance.promotion.record_training_move`), so ``stockpilot models history``
lists it beside promotions and rollbacks. A training run on a machine without a migrated
store (``stockpilot run`` trains before it migrates) cannot audit: the move is then only
in the registry, and the version is tagged ``alias_move_audited=false`` so that history
can say so.
"""

from __future__ import annotations

from pathlib import Path

from stockpilot.settings import Settings, get_settings


def store_ready(settings: Settings) -> bool:
    """A governance store exists at the shipped schema (without creating a SQLite file)."""
    from governance.store.engine import Database
    from governance.store.migrate import current_revision, head_revision

    url = settings.database_url or ""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return False
    db = Database.from_settings(settings)
    try:
        return current_revision(db) == head_revision()
    except Exception:  # unreachable store: training does not fail for want of an audit
        return False
    finally:
        db.dispose()


def audit_move(
    model: str,
    alias: str,
    from_version: str | None,
    to_version: str,
    run_id: str | None,
    forced: bool,
    settings: Settings | None = None,
) -> int | None:
    """Audit a move training made; the audit seq, or None when no store could record it."""
    from governance.alias_moves import record_training_move
    from governance.store.engine import Database
    from stockpilot import tracking

    settings = settings or get_settings()
    if from_version == to_version:
        return None
    if not store_ready(settings):
        tracking.set_version_tag(model, to_version, "alias_move_audited", "false")
        return None
    db = Database.from_settings(settings)
    try:
        seq = record_training_move(
            db,
            model=model,
            alias=alias,
            from_version=from_version,
            to_version=to_version,
            run_id=run_id,
            forced=forced,
        )
    finally:
        db.dispose()
    tracking.set_version_tag(model, to_version, "alias_move_audit_seq", str(seq))
    return seq
