"""What the governance store adds to a dataset when substitution or demand is retrained.

Order risk's join is in :mod:`training.retrain`; these are pure (frames in, dataset out).

**Substitution — what counts as a label** (``accepted`` of a ``substitutions`` row):

- a **customer's answer** (``POST /v1/substitutes/{id}/feedback``, the audited
  ``substitution.feedback`` event): every substitute put to the customer is a row,
  accepted or declined — rebuilt from the recommendation as it was served, so the rows
  are the ones serving appended to its own data directory (same event ids,
  ``<request>-<rank>``). Rows the dataset already holds are kept as they are;
- a **review rejection with reason ``customer_declined``** in the substitution-review
  queue, for a recommendation nobody answered through the feedback endpoint: the
  reviewer put the top substitute to the customer, who said no — one declined row;
- **no label**: other rejections (``not_needed``, ``wrong_quantity``, ``data_error``: the
  customer never saw the offer, so it says nothing about what they would accept),
  approvals and overrides without an answer (the offer went out; its outcome is
  unknown until the feedback comes). They are counted in the summary.

**Demand**: the order lines scored through ``POST /v1/orders/risk`` whose orders the
export does not hold yet, on days after the dataset's last demand day, are added as
demand (what customers asked for, whatever was then shipped: outcomes do not change
demand). Days the export covers already count their orders; the current (incomplete)
UTC day is left out. Edited replenishment quantities are a planner's order size, not
demand, and are not used.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from features.dataset import Dataset
from features.demand import demand_from_orders
from governance.evidence import SubstitutionEvidence
from models.substitution_feedback import feedback_rows, result_from

LABELLING_REJECTION = "customer_declined"


def _served(served: Any) -> tuple[Any, Any] | None:
    if not isinstance(served, dict):
        return None
    explanation = served.get("explanation") or {}
    if "result" not in explanation:
        return None
    return result_from(explanation["result"]), explanation.get("order_id")


def substitution_rows(evidence: SubstitutionEvidence) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The evidence as contract ``substitutions`` rows, and what each kind contributed."""
    frames, answered = [], set()
    summary = {
        "feedback_events": len(evidence.feedback),
        "feedback_rows": 0,
        "feedback_without_recommendation": 0,
        "decided_items": len(evidence.decisions),
        "declined_by_review": 0,
        "decided_without_label": 0,
    }
    for fb in evidence.feedback.itertuples(index=False):
        served = _served(fb.served)
        if served is None:
            summary["feedback_without_recommendation"] += 1
            continue
        result, order_id = served
        rows = feedback_rows(result, fb.accepted, offered=fb.offered, order_id=order_id)
        frames.append(rows)
        summary["feedback_rows"] += len(rows)
        answered.add(fb.recommendation_id)
    for item in evidence.decisions.itertuples(index=False):
        if item.recommendation_id in answered:
            continue  # the customer's own answer is the label
        served = _served(item.served)
        labelled = item.status == "rejected" and item.reason == LABELLING_REJECTION
        if not labelled or served is None or not served[0].substitutes:
            summary["decided_without_label"] += 1
            continue
        result, order_id = served
        top = result.substitutes[0].item_id
        frames.append(feedback_rows(result, [], offered=[top], order_id=order_id))
        summary["declined_by_review"] += 1
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(rows):
        rows = rows.drop_duplicates("event_id", keep="last").reset_index(drop=True)
    return rows, summary


def merge_substitution_evidence(
    ds: Dataset, evidence: SubstitutionEvidence
) -> tuple[Dataset, dict[str, Any]]:
    """The dataset's substitutions plus the labelled evidence it does not hold yet."""
    rows, summary = substitution_rows(evidence)
    subs = ds.substitutions
    known = set(subs["event_id"].astype(str)) if subs is not None else set()
    new = rows[~rows["event_id"].astype(str).isin(known)] if len(rows) else rows
    summary["rows_already_in_dataset"] = len(rows) - len(new)
    summary["rows_added"] = len(new)
    summary["accepted_added"] = int(new["accepted"].sum()) if len(new) else 0
    if not len(new):
        return ds, summary
    subs = new if subs is None or subs.empty else pd.concat([subs, new], ignore_index=True)
    return Dataset.from_tables({**ds.tables(), "substitutions": subs}), summary


def merge_demand_evidence(
    ds: Dataset, lines: pd.DataFrame, *, now: datetime | None = None
) -> tuple[Dataset, dict[str, Any]]:
    """The dataset's demand plus the live order lines of the days after it (see module)."""
    now = now or datetime.now(UTC)
    base = ds.demand if ds.demand is not None and not ds.demand.empty else None
    if base is None:
        base = demand_from_orders(ds.orders)
    last = pd.Timestamp(base["date"].max()).normalize()
    known_orders = set(ds.orders["order_id"].astype(str))
    day = pd.to_datetime(lines["created_at"], utc=True).dt.tz_convert(None).dt.normalize()
    today = pd.Timestamp(now).tz_convert(None).normalize() if now.tzinfo else pd.Timestamp(now)
    new_order = ~lines["order_id"].astype(str).isin(known_orders)
    items = set(ds.items["item_id"].astype(str))
    known_item = lines["item_id"].astype(str).isin(items)
    after = (day > last) & (day < today.normalize())
    use = new_order & after & known_item
    added = (
        pd.DataFrame(
            {
                "date": day[use],
                "item_id": lines.loc[use, "item_id"].astype(str),
                "location_id": lines.loc[use, "location_id"].astype(str),
                "qty": lines.loc[use, "qty"].astype(float),
            }
        )
        .groupby(["date", "item_id", "location_id"], as_index=False)["qty"]
        .sum()
    )
    summary = {
        "live_order_lines": len(lines),
        "lines_of_orders_in_export": int((~new_order).sum()),
        "lines_on_days_the_export_covers": int((new_order & (day <= last)).sum()),
        "lines_of_today": int((new_order & (day >= today.normalize())).sum()),
        "lines_unknown_item": int((new_order & after & ~known_item).sum()),
        "lines_used": int(use.sum()),
        "demand_rows_added": len(added),
        "days_added": int(added["date"].nunique()),
        "export_last_day": str(last.date()),
    }
    demand = pd.concat([base, added], ignore_index=True) if len(added) else base
    return Dataset.from_tables({**ds.tables(), "demand": demand}), summary
