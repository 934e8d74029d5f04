"""Governance KPIs over queue items: exception volume, manual overrides, turnaround.

Queue items are few next to order lines (one per routed exception), so these are
straightforward masks over the item table; what they add is the link back to the
order's outcome (was the override right?) and each item's own SLA.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from features.kpis.base import (
    KpiFacts,
    Result,
    bucket_sums,
    in_period,
    no_data,
    ratio,
    ratios,
    slice_mask,
)
from features.kpis.query import Query
from features.kpis.records import DECIDED, order_met

DIMS = ("location", "segment", "category", "carrier")
# The kinds of work these KPIs are about: decisions on orders, substitutes and
# replenishment. Model promotions and monitoring alerts are data scientists' items in
# their own queues (their SLA is days, not hours) and would skew override and turnaround.
OPERATIONAL_KINDS = ("order_risk", "substitution", "replenishment")


def items_in(facts: KpiFacts, query: Query, day: str) -> pd.DataFrame:
    """The operational queue items of the query's period and slice, by ``day``."""
    items = facts.records.items
    if items.empty:
        return items
    days = items[day].to_numpy(dtype=float)
    mask = (
        in_period(days, query.period)
        & slice_mask({d: items[d].to_numpy() for d in DIMS}, query, len(items))
        & items["kind"].isin(OPERATIONAL_KINDS).to_numpy()
    )
    return items[mask]


def _counts(frame: pd.DataFrame, column: str) -> list[dict[str, object]]:
    counts = frame[column].fillna("unknown").astype(str).value_counts()
    return [{"key": k, "items": int(n)} for k, n in counts.items()]


def exception_volume(facts: KpiFacts, query: Query) -> Result:
    items = items_in(facts, query, "created")
    items = items[items["kind"] == "order_risk"] if len(items) else items
    recs = facts.records.recommendations
    if len(recs):
        in_slice = in_period(recs["created"].to_numpy(dtype=float), query.period) & slice_mask(
            {d: recs[d].to_numpy() for d in DIMS}, query, len(recs)
        )
        recs = recs[in_slice & (recs["kind"] == "order_risk").to_numpy()]
    period = query.period
    trend = bucket_sums(np.ones(len(items)), items["created"].to_numpy(dtype=float), period)
    return Result(
        float(len(items)),
        numerator=float(len(items)),
        denominator=float(len(recs)),
        components={"share_of_recommendations": ratio(len(items), len(recs))},
        breakdown={"queue": _counts(items, "queue"), "driver_family": _counts(items, "top_family")},
        trend=[float(x) for x in trend],
    )


def override_outcomes(facts: KpiFacts, items: pd.DataFrame) -> np.ndarray:
    """Per item: right / wrong / pending / not_assessable (overrides), '' otherwise."""
    met = order_met(facts.lines)
    order = items["order"].to_numpy(dtype=np.int64)
    outcome = np.where(order >= 0, met[np.maximum(order, 0)], np.nan)
    is_order = (items["kind"] == "order_risk").to_numpy() & (order >= 0)
    overridden = (items["status"] == "overridden").to_numpy()
    labels = np.where(outcome == 1.0, "right", np.where(outcome == 0.0, "wrong", "pending"))
    labels = np.where(is_order, labels, "not_assessable")
    return np.where(overridden, labels, "")


def manual_override_rate(facts: KpiFacts, query: Query) -> Result:
    items = items_in(facts, query, "decided")
    if len(items):
        items = items[items["status"].isin(DECIDED).to_numpy()]
    days = items["decided"].to_numpy(dtype=float)
    overridden = (items["status"] == "overridden").to_numpy(dtype=float)
    outcome = override_outcomes(facts, items) if len(items) else np.array([], dtype=object)
    counts = {
        k: float((outcome == k).sum()) for k in ("right", "wrong", "pending", "not_assessable")
    }
    period = query.period
    n, d = bucket_sums(overridden, days, period), bucket_sums(np.ones(len(items)), days, period)
    return Result(
        ratio(overridden.sum(), len(items)),
        float(overridden.sum()),
        float(len(items)),
        components={
            "overrides": float(overridden.sum()),
            **{f"proved_{k}" if k in ("right", "wrong") else k: v for k, v in counts.items()},
            "right_share": ratio(counts["right"], counts["right"] + counts["wrong"]),
        },
        trend=ratios(n, d),
    )


def turnaround_hours(items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hours to decision or expiry, SLA hours, within SLA) per item (the hours were
    worked out from the exact timestamps when the records were read)."""
    if items.empty:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
    taken = items["taken_hours"].to_numpy(dtype=float)
    sla = items["sla_hours"].to_numpy(dtype=float)
    within = (items["status"] != "expired").to_numpy() & (taken <= sla)
    return taken, sla, within


def _percentiles(hours: np.ndarray) -> tuple[float | None, float | None]:
    if not len(hours):
        return None, None
    p50, p90 = np.percentile(hours, [50, 90])
    return float(p50), float(p90)


def approval_turnaround(facts: KpiFacts, query: Query) -> Result:
    items = items_in(facts, query, "decided")
    if len(items):
        items = items[items["status"].isin((*DECIDED, "expired")).to_numpy()]
    hours, sla, within = turnaround_hours(items)
    p50, p90 = _percentiles(hours)
    queues = []
    for queue, idx in items.groupby("queue", sort=True).indices.items():
        q50, q90 = _percentiles(hours[idx])
        queues.append(
            {
                "key": str(queue),
                "items": len(idx),
                "p50_hours": q50,
                "p90_hours": q90,
                "sla_hours": float(np.median(sla[idx])),
                "within_sla": ratio(within[idx].sum(), len(idx)),
            }
        )
    days, period = items["decided"].to_numpy(dtype=float), query.period
    n = bucket_sums(within.astype(float), days, period)
    d = bucket_sums(np.ones(len(items)), days, period)
    return Result(
        ratio(within.sum(), len(items)),
        float(within.sum()),
        float(len(items)),
        components={
            "p50_hours": p50,
            "p90_hours": p90,
            "expired": float((items["status"] == "expired").sum()),
        },
        breakdown={"queue": queues},
        trend=ratios(n, d),
    )


DECISIONS: dict[str, Callable[[KpiFacts, Query], Result]] = {
    "exception_volume": exception_volume,
    "manual_override_rate": manual_override_rate,
    "approval_turnaround": approval_turnaround,
}


def governance_kpi(kpi_id: str, facts: KpiFacts, query: Query) -> Result:
    if not facts.has_records:
        return no_data(query.period, "no governance store was read")
    return DECISIONS[kpi_id](facts, query)
