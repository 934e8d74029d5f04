"""``stockpilot score order-risk``: every open line of a dataset scored and explained by the
registered model, as a table (CSV or Parquet) — what a batch job would hand a planner.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models.order_risk_scorer import OrderRiskScorer, aggregate
from models.reasons import reason
from stockpilot.data import load_dataset
from stockpilot.progress import step
from stockpilot.settings import get_settings
from training.order_risk import MODEL_NAME, Prepared, prepare, set_threads, used_tables


def score(data: Path | str, out: Path, alias: str = "champion") -> int:
    """Score and explain every open line (no fulfillment yet); returns the number written."""
    from stockpilot import tracking

    settings = get_settings()
    with step("loading the dataset and the model"):
        ds = used_tables(load_dataset(data))
        model = tracking.load_pyfunc(f"models:/{MODEL_NAME}@{alias}")
        scorer: OrderRiskScorer = model.unwrap_python_model().scorer
    with step("point-in-time features over history"):
        prepared = prepare(ds)
    open_lines = ~prepared.outcomes["fulfilled"].to_numpy(bool)
    set_threads(settings.train_threads)
    with step(f"scoring and explaining {int(open_lines.sum()):,} open lines"):
        frame = explained_frame(scorer, prepared, open_lines)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)
    return len(frame)


def explained_frame(scorer: OrderRiskScorer, prepared: Prepared, mask: np.ndarray) -> pd.DataFrame:
    """One row per selected line: probability, order score, family contributions, reasons."""
    orders = prepared.orders.loc[mask].reset_index(drop=True)
    if orders.empty:
        return pd.DataFrame(columns=["order_id", "line_no", "p_miss", "order_score", "reasons"])
    scores = scorer.explain_arrays(*prepared.take(mask), parallel=True)
    frame = orders[
        ["order_id", "line_no", "order_ts", "customer_id", "item_id", "location_id"]
    ].copy()
    frame["p_miss"] = scores.probability
    frame["margin"] = scores.margin
    by_order = pd.Series(scores.probability).groupby(frame["order_id"].astype(str).to_numpy())
    frame["order_score"] = by_order.transform(
        lambda s: aggregate(s.to_numpy(), scorer.aggregation)
    ).to_numpy()
    for j, family in enumerate(scorer.families):
        frame[f"contrib_{family}"] = scores.families[:, j]
    reasons = [scorer.reasons(scores, k) for k in range(len(frame))]
    frame["top_family"] = [r[0].family if r else None for r in reasons]
    frame["reasons"] = [" | ".join(x.text for x in r) for r in reasons]
    frame["margin_erosion"] = scores.erosion.flag
    frame["margin_erosion_kind"] = scores.erosion.kind
    frame["margin_erosion_reason"] = [
        reason("margin_erosion", k, scores.inputs, scores.derived, scores.erosion) if flag else None
        for k, flag in enumerate(scores.erosion.flag)
    ]
    return frame
