"""The promotion gate's holdouts for substitution and demand (order risk's is in
:mod:`training.promotion_gate`).

Each scores the **same recent holdout** with the champion and the challenger and hands the
per-row losses to :func:`training.promotion_gate.judge`, which applies the four checks:

- **substitution** — the latest ``holdout_share`` of offer sets by time (inside the
  challenger's test slice: it is trained on the first 70 % of offer sets); features point
  in time from the dataset, as training computes them; cost metric **log loss per offer**
  of the acceptance probability, bootstrap over **offer sets** (the offers of one short
  line share a customer, a moment and a need); segments location and category (of the
  original item); calibration the challenger's ECE. hit@1 on switch occasions is
  reported beside it;
- **demand** — the last ``demand_holdout_days`` days of the dataset. Both versions
  forecast them from the day before (each updated with the actuals up to it, as a planner
  would use it, and given the days' known prices and promotions); cost metric **WAPE**,
  bootstrap over **series** (a series' days share its level and its errors); segments
  fast / slow / intermittent (the challenger's classification); calibration the coverage
  of the challenger's 80 % interval, within ``max_coverage_gap`` of 0.8. A version fit on
  days of the holdout cannot be judged on it and is refused with the reason.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from governance.policy import PromotionPolicy
from stockpilot.errors import InvalidInput
from training.promotion_gate import ece_check, holdout_mask, judge, log_loss

INTERVAL = 0.8


def substitution_checks(
    model: str,
    data: Path,
    cfg: PromotionPolicy,
    versions: Mapping[str, str],
    challenger_gate: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Substitution's holdout (the latest offer sets) and its checks."""
    from features.substitution_context import offer_set_ids
    from stockpilot import tracking
    from stockpilot.data import load_dataset
    from training.substitution import offer_rows
    from training.substitution_eval import ranking_metrics, switch_relevance

    ds = load_dataset(data)
    offers = offer_rows(ds, labelled_only=True)
    groups = offer_set_ids(offers)
    mask = holdout_mask(offers["ts"].groupby(groups).transform("min"), cfg.holdout_share)
    y = offers["accepted"].astype(bool).to_numpy()
    probs = {}
    for alias, version in versions.items():
        loaded = tracking.load_pyfunc(f"models:/{model}/{version}").unwrap_python_model()
        recommender = loaded.recommender
        # Point in time over the whole history: an offer's history is the offers before it.
        X = recommender.features.transform(offers, point_in_time=True, orders=ds.orders)
        probs[alias] = recommender.model.predict_proba(X[mask])[:, 1]
    held = offers.loc[mask].reset_index(drop=True)
    categories = ds.items.drop_duplicates("item_id").set_index(
        ds.items.drop_duplicates("item_id")["item_id"].astype(str)
    )["category"]
    frame = pd.DataFrame(
        {
            "offer_set": groups[mask],
            "location_id": held.get("location_id"),
            "category": held["original_item_id"].astype(str).map(categories),
        }
    )
    y_h = y[mask].astype(float)
    l_champ, l_chall = log_loss(y_h, probs["champion"]), log_loss(y_h, probs["challenger"])
    checks = judge(
        l_champ,
        l_chall,
        frame,
        challenger_gate,
        cfg,
        calibration=ece_check(y_h, probs["champion"], probs["challenger"], cfg),
        group="offer_set",
        resampled="offer_sets",
        unit="log loss per offer (champion − challenger; > 0: challenger better)",
        segments=("location_id", "category"),
    )
    switch = switch_relevance(held, y[mask])
    hit = {
        alias: ranking_metrics(groups[mask], switch, probs[alias])["hit@1_switch"]
        for alias in ("champion", "challenger")
    }
    holdout = {
        "share": cfg.holdout_share,
        "lines": int(mask.sum()),
        "unit": "offers",
        "offer_sets": len(np.unique(groups[mask])),
        "from": str(held["ts"].min()),
        "to": str(held["ts"].max()),
    }
    return holdout, {
        "champion_log_loss": float(l_champ.mean()),
        "challenger_log_loss": float(l_chall.mean()),
        "hit@1_switch": hit,
        **checks,
    }


def _forecast(
    forecaster: Any, name: str, history: pd.DataFrame, cutoff: pd.Timestamp, h: int
) -> Any:
    """``forecaster`` brought up to ``cutoff`` with the actuals (no refit); refused when it
    was fit on days after the cutoff (it has seen the holdout)."""
    if forecaster.last_date_ > cutoff:
        raise InvalidInput(
            f"{name} was fit on demand up to {forecaster.last_date_.date()}, after the holdout "
            f"starts ({(cutoff + pd.Timedelta(days=1)).date()}): it cannot be judged on it; "
            "retrain with `stockpilot retrain demand`, which keeps the holdout out"
        )
    if forecaster.horizon < h:
        raise InvalidInput(
            f"{name} forecasts {forecaster.horizon} days, fewer than the holdout's {h} "
            "(promotion.demand_holdout_days)"
        )
    return copy.deepcopy(forecaster).update(history)


def demand_cutoff(daily: pd.DataFrame, cfg: PromotionPolicy) -> pd.Timestamp:
    """The last day before the demand holdout (the challenger is fit up to it)."""
    last = pd.Timestamp(daily["date"].max())
    return last - pd.Timedelta(days=cfg.demand_holdout_days)


def demand_checks(
    model: str,
    data: Path,
    cfg: PromotionPolicy,
    versions: Mapping[str, str],
    challenger_gate: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Demand's holdout (the last days, every series both versions know) and its checks."""
    from features.demand import daily_demand, exogenous_columns
    from stockpilot import tracking
    from stockpilot.data import load_dataset
    from training.demand.metrics import bias, wape

    ds = load_dataset(data)
    daily = daily_demand(ds.demand, ds.orders)
    cutoff = demand_cutoff(daily, cfg)
    h = cfg.demand_holdout_days
    history = daily[daily["date"] <= cutoff]
    actual = daily[daily["date"] > cutoff]
    loaded = {}
    for alias, version in versions.items():
        forecaster = tracking.load_pyfunc(f"models:/{model}/{version}").unwrap_python_model()
        loaded[alias] = _forecast(forecaster.forecaster, f"{alias} v{version}", history, cutoff, h)
    ids = sorted(
        set(loaded["champion"].series_ids)
        & set(loaded["challenger"].series_ids)
        & set(actual["unique_id"])
    )
    if len(ids) < 2:
        raise InvalidInput(
            f"the demand holdout has {len(ids)} series both versions know: too few to compare"
        )
    future = actual[["unique_id", "date", *exogenous_columns(actual)]]
    truth = actual.set_index(["unique_id", "date"])["qty"]
    means = {}
    for alias, forecaster in loaded.items():
        means[alias] = forecaster.predict_mean(h, future=future, ids=ids)
    rows = means["challenger"][["unique_id", "date", "horizon"]].copy()
    rows["y"] = truth.reindex(pd.MultiIndex.from_frame(rows[["unique_id", "date"]])).to_numpy()
    rows = rows.assign(
        champion=means["champion"]["mean"].to_numpy(), challenger=means["challenger"]["mean"]
    )
    known = rows["y"].notna().to_numpy()
    rows = rows.loc[known].reset_index(drop=True)
    spread = loaded["challenger"].distribution(
        means["challenger"].loc[known].reset_index(drop=True)
    )
    y = rows["y"].to_numpy(float)
    inside = (spread["lo_80"].to_numpy() <= y) & (y <= spread["hi_80"].to_numpy())
    coverage = float(inside.mean())
    calibration = {
        "challenger_coverage80": coverage,
        "target": INTERVAL,
        "max_coverage_gap": cfg.max_coverage_gap,
        "passed": bool(abs(coverage - INTERVAL) <= cfg.max_coverage_gap),
        "failure": (
            f"challenger 80 % interval covers {coverage:.1%} of holdout days, more than "
            f"{cfg.max_coverage_gap:.0%} from 80 %"
        ),
    }
    frame = pd.DataFrame({"unique_id": rows["unique_id"], "segment": spread["segment"].to_numpy()})
    e_champ = np.abs(y - rows["champion"].to_numpy())
    e_chall = np.abs(y - rows["challenger"].to_numpy())
    checks = judge(
        e_champ,
        e_chall,
        frame,
        challenger_gate,
        cfg,
        calibration=calibration,
        group="unique_id",
        resampled="series",
        unit="WAPE (champion − challenger; > 0: challenger better)",
        metric="wape",
        segments=("segment",),
        denominator=y,
    )
    holdout = {
        "days": h,
        "lines": len(rows),
        "unit": "series-days",
        "series": len(ids),
        "series_one_version_only": len(
            set(loaded["champion"].series_ids) ^ set(loaded["challenger"].series_ids)
        ),
        "from": str((cutoff + pd.Timedelta(days=1)).date()),
        "to": str(pd.Timestamp(actual["date"].max()).date()),
    }
    return holdout, {
        "champion_wape": wape(y, rows["champion"].to_numpy()),
        "challenger_wape": wape(y, rows["challenger"].to_numpy()),
        "bias": {
            "champion": bias(y, rows["champion"].to_numpy()),
            "challenger": bias(y, rows["challenger"].to_numpy()),
        },
        **checks,
    }
