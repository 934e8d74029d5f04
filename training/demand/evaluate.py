"""Turn a backtest, its baselines and (on simulated data) the truth into evaluation.json.

Only this module reads ``truth/`` (through the frames passed in): the oracle WAPE
(the true expected demand scored like a forecast) and the injected level shifts.
Training never sees it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from models.distribution import pit_coverage, quantile
from training.demand import metrics
from training.demand.backtest import BacktestResult
from training.demand.baselines import NAMES

SHIFT_THRESHOLD = 0.8
MA_DAYS = 28


def score_windows(bt: BacktestResult) -> pd.DataFrame:
    """Evaluated windows' forecasts with variance, 80 % interval and PIT coverage.

    Each window's distribution is calibrated on the windows before it only.
    """
    frames = []
    for w in bt.eval_windows:
        f = bt.scored_forecasts([w]).copy()
        cal = bt.calibration_for(w)
        mean = f["mean"].to_numpy(float)
        var = cal.daily_factor(f["segment"].to_numpy()) * f["phi"].to_numpy(float) * mean
        f["variance"] = var
        f["lo_80"] = quantile(mean, var, 0.1)
        f["hi_80"] = quantile(mean, var, 0.9)
        f["pit80"] = pit_coverage(f["y"].to_numpy(float), mean, var, 0.8)
        f["inside80"] = ((f["y"] >= f["lo_80"]) & (f["y"] <= f["hi_80"])).astype(float)
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def window_scales(daily: pd.DataFrame, bt: BacktestResult) -> pd.Series:
    """MASE scale per (window, series) from the history before each window's cutoff."""
    parts = []
    for w in bt.eval_windows:
        hist = daily[daily["date"] <= bt.cutoffs[w]]
        s = metrics.seasonal_scale(hist)
        parts.append(pd.Series(s.to_numpy(), index=pd.MultiIndex.from_product([[w], s.index])))
    return pd.concat(parts).rename("scale")


def _expected_by_series(daily: pd.DataFrame, truth: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """truth/demand keyed by our ``unique_id`` (None when the data is not simulated)."""
    expected = truth.get("demand")
    if expected is None:
        return None
    ids = daily.drop_duplicates("unique_id")[["unique_id", "item_id", "location_id"]]
    return expected.assign(
        item_id=expected["item_id"].astype(str),
        location_id=expected["location_id"].astype(str),
        date=pd.to_datetime(expected["date"]),
    ).merge(ids, on=["item_id", "location_id"], how="inner")


def _with_truth(
    scored: pd.DataFrame, daily: pd.DataFrame, truth: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    expected = _expected_by_series(daily, truth)
    if expected is None:
        return scored
    cols = ["unique_id", "date", "expected_qty"]
    return scored.merge(expected[cols], on=["unique_id", "date"], how="left")


def level_shift_report(
    bt: BacktestResult, daily: pd.DataFrame, truth: dict[str, pd.DataFrame]
) -> tuple[dict[str, Any] | None, dict[str, pd.DataFrame]]:
    """Days until next-day forecasts absorb injected level shifts (model vs 28-day MA)."""
    shifts, expected = truth.get("level_shifts"), _expected_by_series(daily, truth)
    if shifts is None or expected is None or shifts.empty:
        return None, {}
    nd = bt.next_day
    first, last = nd["date"].min(), nd["date"].max()
    ids = daily.drop_duplicates("unique_id")[["unique_id", "item_id", "location_id"]]
    s = shifts.assign(
        item_id=shifts["item_id"].astype(str),
        location_id=shifts["location_id"].astype(str),
        date=pd.to_datetime(shifts["date"]),
    ).merge(ids, on=["item_id", "location_id"], how="inner")
    s = s[(s["date"] >= first) & (s["date"] <= last - pd.Timedelta(days=7))]
    d = daily.sort_values(["unique_id", "date"])
    ma = d.groupby("unique_id", sort=False)["qty"].transform(
        lambda x: x.shift(1).rolling(MA_DAYS, min_periods=1).mean()
    )
    ma_frame = pd.DataFrame({"unique_id": d["unique_id"], "date": d["date"], "mean": ma})
    ma_frame = ma_frame[ma_frame["date"] >= first - pd.Timedelta(days=28)]
    curves = {
        "model (next-day)": metrics.adaptation_curves(nd, expected, s),
        f"{MA_DAYS}-day moving average": metrics.adaptation_curves(ma_frame, expected, s),
    }
    model = metrics.days_to_adapt(curves["model (next-day)"], SHIFT_THRESHOLD)
    base = metrics.days_to_adapt(curves[f"{MA_DAYS}-day moving average"], SHIFT_THRESHOLD)
    report = {
        "days_to_adapt": model["median"],
        "mean_days_to_adapt": model["mean"],
        "n_shifts": model["n_shifts"],
        "adapted_share": model["adapted_share"],
        "threshold": SHIFT_THRESHOLD,
        "absorbed_after_days": model["absorbed_after_days"],
        "baseline_ma28": {
            "days_to_adapt": base["median"],
            "mean_days_to_adapt": base["mean"],
            "adapted_share": base["adapted_share"],
            "absorbed_after_days": base["absorbed_after_days"],
        },
    }
    return report, curves


def per_window(
    scored: pd.DataFrame, forecast: str, scale: pd.Series, cutoffs: list[pd.Timestamp]
) -> list[dict[str, Any]]:
    """WAPE, MASE and bias of one forecast column in each evaluated window."""
    return [
        {
            "window": int(w),
            "cutoff": str(cutoffs[w].date()),
            **metrics.summarize(g, forecast, scale),
        }
        for w, g in scored.dropna(subset=[forecast]).groupby("window", sort=True)
    ]


def evaluate(
    bt: BacktestResult,
    baselines: pd.DataFrame,
    daily: pd.DataFrame,
    truth: dict[str, pd.DataFrame],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The backtest, baselines and oracle sections of evaluation.json, plus scored rows.

    Every model is scored on the same rows: the series × days of the evaluated windows
    that every baseline forecast (a baseline that could not forecast a series would
    otherwise be scored on an easier subset).
    """
    scored = score_windows(bt)
    scored = scored.merge(baselines, on=["window", "unique_id", "date"], how="left")
    point = [c for c in NAMES if c in scored.columns]
    scored = scored.dropna(subset=point).reset_index(drop=True)
    scored = _with_truth(scored, daily, truth)
    scale = window_scales(daily, bt)
    cov = {"coverage80_interval": "inside80"}
    backtest = metrics.summarize(scored, "mean", scale, coverage="pit80")
    backtest["coverage80_interval"] = float(scored["inside80"].mean())
    backtest["by_segment"] = metrics.by_segment(scored, "mean", scale, coverage="pit80", extra=cov)
    backtest["windows"] = per_window(scored, "mean", scale, bt.cutoffs)
    if "mean_ets" in scored.columns:  # the combination's parts, scored on the same rows
        backtest["combination"] = {
            "lightgbm_alone_wape": metrics.wape(scored["y"], scored["mean_lgbm"]),
            "model_ets_wape": metrics.wape(scored["y"], scored["mean_ets"]),
            "lightgbm_weight_by_window": {
                str(w): bt.combination_for(w).to_dict() for w in bt.eval_windows
            },
        }
    backtest.update(
        n_series=int(scored["unique_id"].nunique()),
        n_windows=len(bt.eval_windows),
        horizon=bt.config.horizon,
        step=bt.config.window_step,
        refresh_days=bt.config.refresh_days,
        cutoffs=[str(bt.cutoffs[w].date()) for w in bt.eval_windows],
        coverage_note=(
            "coverage80 is the non-randomised PIT coverage of the count distribution; "
            "coverage80_interval counts lo_80 <= y <= hi_80 (inflated by zero days)"
        ),
    )
    out: dict[str, Any] = {"model": "demand", "backtest": backtest, "baselines": {}}
    for name in point:
        part = scored
        inside = None
        if f"{name}_lo" in part.columns:
            part = part.assign(
                _inside=(
                    (part["y"] >= part[f"{name}_lo"]) & (part["y"] <= part[f"{name}_hi"])
                ).astype(float)
            )
            inside = "_inside"
        stats = metrics.summarize(part, name, scale, coverage=inside)
        stats["model"] = NAMES[name]
        stats["by_segment"] = metrics.by_segment(part, name, scale, coverage=inside)
        stats["windows"] = per_window(part, name, scale, bt.cutoffs)
        out["baselines"][name] = stats
    if "expected_qty" in scored.columns and scored["expected_qty"].notna().any():
        part = scored.dropna(subset=["expected_qty"])
        out["oracle"] = {
            "wape": metrics.wape(part["y"], part["expected_qty"]),
            "by_segment": {
                seg: metrics.wape(g["y"], g["expected_qty"]) for seg, g in part.groupby("segment")
            },
            "windows": per_window(part, "expected_qty", scale, bt.cutoffs),
        }
    else:
        out["oracle"] = None
    out["improvement"] = {
        f"wape_vs_{name}": 1 - backtest["wape"] / b["wape"] if b["wape"] else float("nan")
        for name, b in out["baselines"].items()
    }
    return out, scored
