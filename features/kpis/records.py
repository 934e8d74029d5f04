"""Governance facts behind the exception, override and turnaround KPIs.

Queue items and recommendations come from the governance store as plain frames (read
by ``governance.kpi_records``); this module turns them into arrays with the same slice
codes as the order lines. A queue item about an order (subject ``order:<id>``) is sliced
by that order in the dataset — its location, carrier, customer segment and the category
of most of its lines; an order the dataset does not hold is sliced by the segment of
the customer recorded with the item, and matches no location, category or carrier.
Times are UTC, as days since the epoch (floats).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.kpis.dims import UNKNOWN, Dims
from features.kpis.lines import LineFacts

ITEM_COLUMNS = (
    "id",
    "queue",
    "kind",
    "subject",
    "action",
    "status",
    "created_at",
    "due_at",
    "decided_at",
    "decided_by",
    "top_family",
    "customer_id",
)
RECOMMENDATION_COLUMNS = ("id", "kind", "subject", "created_at")
DECIDED = ("approved", "rejected", "overridden")
HOURS = ("taken_hours", "sla_hours")  # created → decided (or expired), created → due


@dataclass
class RecordFacts:
    items: pd.DataFrame  # ITEM_COLUMNS + created, due, decided (days) + order + slice codes
    recommendations: pd.DataFrame  # RECOMMENDATION_COLUMNS + created + order + slice codes

    @classmethod
    def empty(cls) -> RecordFacts:
        return cls(
            _frame(ITEM_COLUMNS, ("created", "due", "decided")),
            _frame(RECOMMENDATION_COLUMNS, ("created",)),
        )


def _frame(columns: tuple[str, ...], days: tuple[str, ...]) -> pd.DataFrame:
    extra = (*days, "order", "location", "segment", "category", "carrier")
    if "due" in days:
        extra = (*extra, *HOURS)
    return pd.DataFrame({c: pd.Series(dtype=object) for c in (*columns, *extra)})


def utc_days(values: pd.Series) -> np.ndarray:
    """Days since the epoch of aware (UTC) or naive-UTC timestamps, NaN when missing."""
    ts = pd.to_datetime(values, utc=True)
    out = ts.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]").astype(np.int64) / 86_400e9
    out[ts.isna().to_numpy()] = np.nan
    return out


def build_records(
    items: pd.DataFrame,
    recommendations: pd.DataFrame,
    lines: LineFacts,
    dims: Dims,
    segment_of_customer: pd.Series,
) -> RecordFacts:
    """Queue items and recommendations with day numbers, their order's row and slices."""
    items = items.reset_index(drop=True).copy()
    recs = recommendations.reset_index(drop=True).copy()
    for frame, columns in ((items, ("created", "due", "decided")), (recs, ("created",))):
        for name in columns:
            frame[name] = utc_days(frame[f"{name}_at"]) if len(frame) else np.array([], float)
    for name, column in zip(HOURS, ("decided_at", "due_at"), strict=True):
        items[name] = _hours(items, column) if len(items) else np.array([], float)
    customers = items.get("customer_id")
    _slice(items, lines, dims, segment_of_customer, customers)
    _slice(recs, lines, dims, segment_of_customer, None)
    return RecordFacts(items, recs)


def _hours(items: pd.DataFrame, column: str) -> np.ndarray:
    """Hours from creation to ``column``, from the exact timestamps (day numbers would
    round them); computed once per item, when its record is read."""
    delta = pd.to_datetime(items[column], utc=True) - pd.to_datetime(items["created_at"], utc=True)
    return delta.dt.total_seconds().to_numpy(dtype=float) / 3600.0


def _slice(
    frame: pd.DataFrame,
    lines: LineFacts,
    dims: Dims,
    segment_of_customer: pd.Series,
    customers: pd.Series | None,
) -> None:
    subject = frame["subject"].astype(str)
    order_id = subject.str.removeprefix("order:").where(subject.str.startswith("order:"))
    rows = order_id.map(lines.order_rows()).fillna(-1).to_numpy(dtype=np.int64)
    has = rows >= 0
    at = np.maximum(rows, 0)
    frame["order"] = np.where(has, lines.order[at], -1)
    for dim in ("location", "carrier", "segment"):
        frame[dim] = np.where(has, getattr(lines, dim)[at], UNKNOWN)
    category = order_category(lines)
    frame["category"] = np.where(has, category[np.maximum(frame["order"].to_numpy(), 0)], UNKNOWN)
    if customers is not None:
        segment = dims.codes("segment", customers.astype(object).map(segment_of_customer))
        frame["segment"] = np.where(has, frame["segment"].to_numpy(), segment)


def order_category(lines: LineFacts) -> np.ndarray:
    """Per order code: the category of most of its lines (the first of a tie)."""
    cached = lines.__dict__.get("_order_category")
    if cached is None:
        cached = np.full(len(lines.order_ids), UNKNOWN, dtype=np.int64)
        counts = pd.DataFrame({"order": lines.order, "category": lines.category})
        counts = counts[counts["category"] >= 0].value_counts(sort=False).reset_index(name="n")
        counts = counts.sort_values(["order", "n", "category"], ascending=[True, False, True])
        top = counts.drop_duplicates("order")
        cached[top["order"].to_numpy()] = top["category"].to_numpy()
        lines.__dict__["_order_category"] = cached
    return cached


def order_met(lines: LineFacts) -> np.ndarray:
    """Per order code: 1 when every line met its commitment, 0 when one missed (late or
    short), NaN while that is not known (SPEC §3's label, per order)."""
    cached = lines.__dict__.get("_order_met")
    if cached is None:
        missed = (lines.fulfilled & (lines.shipped < lines.qty)) | (lines.late == 1.0)
        met = lines.fulfilled & (lines.shipped >= lines.qty) & (lines.late == 0.0)
        n = len(lines.order_ids)
        n_missed = np.bincount(lines.order, weights=missed, minlength=n)
        n_met = np.bincount(lines.order, weights=met, minlength=n)
        n_lines = np.bincount(lines.order, minlength=n)
        cached = np.where(n_missed > 0, 0.0, np.where(n_met == n_lines, 1.0, np.nan))
        lines.__dict__["_order_met"] = cached
    return cached
