"""Served recommendations joined to their outcomes (``stockpilot monitor MODEL --home H``).

The dataset replay (:mod:`training.monitor_run`) re-scores a dataset with the champion;
this reads what the service actually recommended, stored in the governance store of
home ``H`` (through :class:`governance.reads.Reads`), and joins it to what happened:

- **order risk**: each stored order-risk recommendation's lines (their P(miss), the
  promised date, the audit-slice tag of its audit record) joined to the latest line
  outcome posted (``POST /v1/outcomes`` → ``line_outcomes``). A line *misses* when it was
  delivered after the promised date or short (``shipped_qty < qty``); a short shipment
  is a known miss before delivery; otherwise it is not known yet. Realised AUC and Brier
  are weighted as ``docs/monitoring.md`` says: a reviewed order counts 1, an audit-slice
  order 1 / ``monitoring.audit_slice_share``, any other auto-released order is not
  tracked (its outcome, if posted, is counted but left out of the realised figures, so
  that they estimate everything the model released); ECE with the same weights. CBPE (expected
  AUC and Brier) covers every served line. Per served model version and ISO week.
- **substitution**: each stored substitution recommendation's substitutes and their
  P(accept), joined to the feedback recorded about it (``substitution.feedback``: what
  was offered, what was accepted); without feedback, every returned substitute counts
  as offered and its outcome as unknown. Accept rate, hit@1 and their estimates
  (:func:`training.monitor_substitution.metrics`) per model version and week, over all
  feedback; beside them the *tracked* figures, weighted like order risk's: a reviewed
  recommendation counts 1, an auto-offered one in the audit slice (tagged by serving,
  ``explanation.audit_slice``) 1 / ``monitoring.audit_slice_share``, other auto-offers 0
  (accept rate, hit@1, ECE and the calibration test z, gap of P(accept)).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from models import drift, performance
from models.reliability import expected_calibration_error
from training import monitor_substitution

KIND = {"order-risk": "order_risk", "substitution": "substitution"}


def order_risk_lines(served: list[Any], outcomes: pd.DataFrame, share: float) -> pd.DataFrame:
    """One row per served order line: version, week, segments, P(miss), label, weight."""
    rows = []
    for rec in served:
        explanation = rec.payload.get("explanation") or {}
        ordered = {int(line["line_no"]): line for line in explanation.get("order_lines") or []}
        audit_slice = bool(explanation.get("audit_slice", False))
        weight = 1.0 if rec.reviewed else (1.0 / share if audit_slice and share > 0 else 0.0)
        for line in explanation.get("lines") or []:
            line_no = int(line["line_no"])
            order_line = ordered.get(line_no, {})
            rows.append(
                {
                    "order_id": rec.subject.removeprefix("order:"),
                    "line_no": line_no,
                    "model_version": str(rec.model_version),
                    "week": pd.Timestamp(rec.created_at).strftime("%G-W%V"),
                    "location_id": order_line.get("location_id"),
                    "item_id": line.get("item_id") or order_line.get("item_id"),
                    "qty": float(order_line.get("qty") or np.nan),
                    "promised_date": explanation.get("promised_date"),
                    "reviewed": rec.reviewed,
                    "audit_slice": audit_slice,
                    "weight": weight,
                    "p_miss": float(line["probability"]),
                }
            )
    columns = ["order_id", "line_no", "model_version", "week", "location_id", "item_id", "qty",
               "promised_date", "reviewed", "audit_slice", "weight", "p_miss"]  # fmt: skip
    lines = pd.DataFrame(rows, columns=columns)
    if lines.empty:
        return lines.assign(miss=pd.Series(dtype=float), outcome=pd.Series(dtype=bool))
    joined = lines.merge(
        outcomes[["order_id", "line_no", "shipped_qty", "ship_date", "delivered_date"]],
        on=["order_id", "line_no"],
        how="left",
    )
    promised = pd.to_datetime(joined["promised_date"])
    delivered = pd.to_datetime(joined["delivered_date"])
    short = joined["shipped_qty"] < joined["qty"]
    late = delivered > promised
    miss = np.where(
        delivered.notna(),
        (late | short).astype(float),
        np.where(joined["ship_date"].notna() & short, 1.0, np.nan),
    )
    joined["outcome"] = ~np.isnan(miss)
    joined["miss"] = np.where(joined["weight"] > 0, miss, np.nan)  # untracked: not realised
    return joined.drop(columns=["shipped_qty", "ship_date", "delivered_date"])


def order_risk_block(served: list[Any], outcomes: pd.DataFrame, share: float) -> dict[str, Any]:
    from training.monitoring import records

    lines = order_risk_lines(served, outcomes, share)
    weeks = performance.table(lines, by=["model_version", "week"]) if len(lines) else pd.DataFrame()
    return {
        "recommendations": len(served),
        "lines": len(lines),
        "with_outcome": int(lines["outcome"].sum()) if len(lines) else 0,
        "reviewed_lines": int(lines["reviewed"].sum()) if len(lines) else 0,
        "audit_slice_lines": int(lines["audit_slice"].sum()) if len(lines) else 0,
        "untracked_with_outcome": int(
            (lines["outcome"] & (lines["weight"] == 0)).sum() if len(lines) else 0
        ),
        "audit_slice_share": share,
        "weeks": records(weeks),
    }


def substitution_offers(
    served: list[Any], items: pd.DataFrame | None, share: float = 0.0
) -> pd.DataFrame:
    """One row per served substitute, shaped as :func:`monitor_substitution.metrics` wants,
    with the tracking weight of its recommendation (``weight``, see the module)."""
    categories = (
        {}
        if items is None
        else dict(zip(items["item_id"].astype(str), items["category"], strict=True))
    )
    rows = []
    for rec in served:
        explanation = rec.payload.get("explanation") or {}
        request = (rec.payload.get("features") or {}).get("request") or {}
        result = explanation.get("result") or {}
        p = {str(s["item_id"]): float(s["p_accept"]) for s in result.get("substitutes") or []}
        audit_slice = bool(explanation.get("audit_slice", False))
        weight = 1.0 if rec.reviewed else (1.0 / share if audit_slice and share > 0 else 0.0)
        feedback = rec.feedback[-1] if rec.feedback else None
        offered = [str(i) for i in feedback["offered"]] if feedback else list(p)
        accepted = {str(i) for i in feedback["accepted"]} if feedback else set()
        for item in offered:
            rows.append(
                {
                    "set": rec.recommendation_id,
                    "model_version": str(rec.model_version),
                    "week": pd.Timestamp(rec.created_at).strftime("%G-W%V"),
                    "location_id": request.get("location_id"),
                    "category": categories.get(str(request.get("item_id"))),
                    "substitute": item != str(request.get("item_id")),
                    "p_accept": p.get(item, np.nan),
                    "accepted": (float(item in accepted) if feedback else np.nan),
                    "reviewed": rec.reviewed,
                    "audit_slice": audit_slice,
                    "weight": weight,
                }
            )
    frame = pd.DataFrame(
        rows,
        columns=[
            "set",
            "model_version",
            "week",
            "location_id",
            "category",
            "substitute",
            "p_accept",
            "accepted",
            "reviewed",
            "audit_slice",
            "weight",
        ],
    )
    return frame[frame["p_accept"].notna()].reset_index(drop=True)


def tracked(offers: pd.DataFrame) -> dict[str, Any]:
    """Accept rate, hit@1 on switch occasions, ECE and the calibration test of the tracked
    offer sets (weight > 0, with feedback), each set weighted by its recommendation's
    weight."""
    known = offers[(offers["weight"] > 0) & offers["accepted"].notna()]
    if known.empty:
        return {
            "tracked_sets": 0,
            **dict.fromkeys(("tracked_accept_rate", "tracked_hit1", "tracked_ece")),
            **dict.fromkeys(("tracked_calibration_z", "tracked_calibration_gap")),
        }
    w = known["weight"].to_numpy(float)
    y, p = known["accepted"].to_numpy(float), known["p_accept"].to_numpy(float)
    accept_rate = float(np.sum(w * y) / w.sum())
    z, gap = drift.calibration_z(y, p, w)
    subs = known[known["substitute"]].assign(row=np.arange(int(known["substitute"].sum())))
    ranked = subs.sort_values(["set", "p_accept", "row"], ascending=[True, False, True])
    by_set = ranked.groupby("set", sort=False)
    occasion = by_set["accepted"].max() > 0  # a switch: some substitute was accepted
    hit = by_set["accepted"].first() > 0  # ... and it was the top-ranked one
    weight = by_set["weight"].first()
    occasions = float((weight * occasion).sum())
    return {
        "tracked_sets": int(known["set"].nunique()),
        "tracked_accept_rate": accept_rate,
        "tracked_hit1": float((weight * hit).sum() / occasions) if occasions > 0 else None,
        "tracked_ece": expected_calibration_error(y, p, sample_weight=w),
        "tracked_calibration_z": z,
        "tracked_calibration_gap": gap,
    }


def substitution_block(
    served: list[Any], items: pd.DataFrame | None, share: float = 0.0
) -> dict[str, Any]:
    from training.monitoring import records

    offers = substitution_offers(served, items, share)
    weeks = (
        monitor_substitution.table(offers, ["model_version", "week"])
        if len(offers)
        else pd.DataFrame()
    )
    if len(weeks):
        extra = [
            tracked(g) for _, g in offers.groupby(["model_version", "week"], sort=True, dropna=True)
        ]
        weeks = pd.concat([weeks, pd.DataFrame(extra, index=weeks.index)], axis=1)
    return {
        "recommendations": len(served),
        "with_feedback": sum(1 for rec in served if rec.feedback),
        "offers": len(offers),
        "reviewed_sets": sum(1 for rec in served if rec.reviewed),
        "audit_slice_sets": int(offers.loc[offers["audit_slice"], "set"].nunique())
        if len(offers)
        else 0,
        "audit_slice_share": share,
        **tracked(offers),
        "weeks": records(weeks),
    }


def served_block(model: str, settings: Any, policy: Any, items: pd.DataFrame | None) -> dict:
    """The served block of a report, read from the store of ``settings``."""
    from governance.events import fulfillments_frame
    from governance.reads import Reads
    from governance.store.engine import Database
    from governance.store.migrate import require_current

    db = Database.from_settings(settings)
    try:
        require_current(db)
        reads = Reads(db)
        served = reads.served(KIND[model], model_name=model)
        share = policy.monitoring.audit_slice_share
        if model == "substitution":
            return {"store": str(settings.home), **substitution_block(served, items, share)}
        outcomes = fulfillments_frame(reads.line_outcomes())
        outcomes["order_id"] = outcomes["order_id"].astype(str)
        return {"store": str(settings.home), **order_risk_block(served, outcomes, share)}
    finally:
        db.dispose()
