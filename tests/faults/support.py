"""What every fault scenario must show, whatever broke."""

from __future__ import annotations

from benchmarks.faults import Row


def assert_books_balance(rows: list[Row]) -> None:
    for row in rows:
        audit = row.audit
        summary = f"{row.backend} {row.scenario}: {audit} ({row.detail})"
        assert audit.acknowledged > 0, summary
        assert audit.lost == 0 and audit.duplicated == 0, summary
        assert audit.server_errors == 0 and audit.unavailable_without_retry_after == 0, summary
        assert audit.audit_verify.startswith("ok: audit chain intact"), summary
        assert "anchored head" in audit.audit_verify, summary
        assert audit.integrity in ("ok", "n/a"), summary
