"""Where monitoring reports live: ``home/monitoring/<model>.json``, one per model.

``stockpilot monitor`` writes the report of its latest run there; serving reads it for
``GET /v1/monitoring/{model}``, the ``/ui/monitoring`` page and the ``/metrics`` gauges.
A file, not a table: a report is the output of a batch job, replaced whole by the next.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def report_path(home: Path, model: str) -> Path:
    return Path(home) / "monitoring" / f"{model}.json"


def write_report(home: Path, model: str, report: dict[str, Any]) -> Path:
    """Write atomically (a reader never sees half a report)."""
    path = report_path(home, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(report, indent=1, default=str))
    partial.replace(path)
    return path


def read_report(home: Path, model: str) -> dict[str, Any] | None:
    """The latest report of ``model``, or None when no run wrote one (or it is unreadable)."""
    try:
        return json.loads(report_path(home, model).read_text())
    except (OSError, ValueError):
        return None
