"""Monitoring the served demand forecaster on a dataset (``stockpilot monitor demand``).

The champion was fitted on demand through its last training day. Its forecasts of the
days after it are made as served and as the training backtest scored them: from the
last training day, ``h`` days ahead (the backtest's refresh interval, else its horizon),
then the actuals of those days are appended (:meth:`DemandForecaster.update`, no refit)
and the next ``h`` days forecast, until the dataset ends. Against the actuals, with
:mod:`training.demand.metrics`: WAPE, bias and the 80 % interval coverage (the
non-randomised PIT coverage of the count distribution, as the backtest's
``coverage80``), per ISO week and per segment (fast/slow/intermittent as the model
classified the series at training, location, category).

Alerts, per week (policy ``monitoring.``): WAPE above the backtest's × (1 +
``demand_wape_tolerance``); bias outside ± ``demand_bias_band``; coverage outside
``demand_coverage_band``. One alert per check, its weeks listed.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from features.dataset import Dataset
from features.demand import daily_demand
from models.distribution import pit_coverage
from stockpilot.errors import InvalidInput
from training.demand import metrics
from training.monitoring import records, report_header

SEGMENTS = ("segment", "location_id", "category")


def forecasts(forecaster: Any, daily: pd.DataFrame, step_days: int) -> pd.DataFrame:
    """The served forecasts of every day of ``daily`` after the model's last training day:
    ``unique_id, date, horizon, mean, variance, segment, location_id, item_id, y``."""
    model = copy.deepcopy(forecaster)  # update() appends actuals; the loaded one stays as is
    end = pd.Timestamp(daily["date"].max())
    known = daily[daily["unique_id"].isin(model.series_ids)]
    step_days = max(1, min(step_days, model.horizon))
    parts = []
    while model.last_date_ < end:
        h = int(min(step_days, (end - model.last_date_).days))
        ahead = known[
            (known["date"] > model.last_date_)
            & (known["date"] <= model.last_date_ + pd.Timedelta(days=h))
        ]
        means = model.predict_mean(h, future=ahead)
        out = model.distribution(means)
        parts.append(out)
        model.update(known[known["date"] <= model.last_date_ + pd.Timedelta(days=h)])
        if model.last_date_ < out["date"].max():  # no actuals for those days: stop
            break
    if not parts:
        return pd.DataFrame()
    frame = pd.concat(parts, ignore_index=True)
    actual = known[["unique_id", "date", "qty"]].rename(columns={"qty": "y"})
    frame = frame.merge(actual, on=["unique_id", "date"], how="inner")
    frame["pit80"] = pit_coverage(
        frame["y"].to_numpy(float), frame["mean"].to_numpy(float), frame["variance"].to_numpy(float)
    )
    return frame


def summary(frame: pd.DataFrame) -> dict[str, Any]:
    y, f = frame["y"].to_numpy(float), frame["mean"].to_numpy(float)
    return {
        "series": int(frame["unique_id"].nunique()),
        "days": int(frame["date"].nunique()),
        "actual": float(y.sum()),
        "forecast": float(f.sum()),
        "wape": metrics.wape(y, f),
        "bias": metrics.bias(y, f),
        "coverage80": float(frame["pit80"].mean()) if len(frame) else float("nan"),
    }


def table(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    rows = [
        {**dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)), **summary(g)}
        for key, g in frame.groupby(by, sort=True, dropna=True)
    ]
    return pd.DataFrame(rows)


def alerts_of(
    weeks: pd.DataFrame,
    *,
    model: str,
    version: str,
    backtest: dict[str, Any],
    rules: Any,
) -> list[dict[str, Any]]:
    """One alert per breached check (WAPE, bias, coverage), its weeks listed."""
    found: list[dict[str, Any]] = []
    if weeks.empty:
        return found
    checks: list[tuple[str, pd.Series, dict[str, Any]]] = []
    reference = backtest.get("wape")
    if reference is not None and np.isfinite(reference):
        ceiling = reference * (1 + rules.demand_wape_tolerance)
        checks.append(
            ("wape", weeks["wape"] > ceiling, {"backtest_wape": reference, "ceiling": ceiling})
        )
    band = rules.demand_bias_band
    checks.append(("bias", weeks["bias"].abs() > band, {"band": [-band, band]}))
    lo, hi = rules.demand_coverage_band
    checks.append(
        ("coverage80", (weeks["coverage80"] < lo) | (weeks["coverage80"] > hi), {"band": [lo, hi]})
    )
    for feature, breached, rule in checks:
        bad = weeks[breached.fillna(False).to_numpy(bool)]
        if len(bad):
            found.append(
                {
                    "model": model,
                    "model_version": version,
                    "kind": "performance",
                    "feature": feature,
                    "days": sorted(bad["week"].astype(str)),
                    "evidence": {**rule, "weeks": bad.to_dict("records")},
                }
            )
    return found


def demand_block(
    frame: pd.DataFrame, *, trained_until: str, backtest: dict[str, Any], rules: Any
) -> dict[str, Any]:
    """The report's ``demand`` block from the scored forecasts (``y``, ``mean``, ``pit80``,
    ``date``, ``unique_id`` and the segment columns)."""

    frame = frame.assign(week=pd.to_datetime(frame["date"]).dt.strftime("%G-W%V"))
    return {
        "trained_until": trained_until,
        "backtest": {k: backtest.get(k) for k in ("wape", "bias", "coverage80", "mase")},
        "rules": {
            "wape_tolerance": rules.demand_wape_tolerance,
            "bias_band": rules.demand_bias_band,
            "coverage_band": list(rules.demand_coverage_band),
        },
        "overall": summary(frame) if len(frame) else None,
        "weeks": records(table(frame, ["week"])),
        "segments": {s: records(table(frame, [s])) for s in SEGMENTS if frame[s].notna().any()},
        "segment_weeks": records(table(frame, ["week", "segment"])),
        "series_not_in_model": 0,
    }


def _step_days(run_id: str | None, evaluation: dict[str, Any]) -> int:
    """The backtest's refresh interval (else its horizon): how old a scored forecast got."""
    from stockpilot import tracking

    try:
        params = tracking.client().get_run(run_id).data.params
        for key in ("backtest.refresh_days", "backtest.horizon"):
            value = params.get(key)
            if value not in (None, "None"):
                return int(value)
    except Exception:  # no run parameters: the forecaster's own horizon
        pass
    return 28


def run(
    model: str, ds: Dataset, *, since: date | None, policy: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One monitoring run of the served demand forecaster on ``ds``."""
    from stockpilot import tracking
    from stockpilot.progress import step
    from training.monitor_run import served_model

    with step("loading the served forecaster"):
        forecaster, version, _, evaluation = served_model(model)
        run_id = tracking.resolve(model, "champion").run_id
    trained_until = pd.Timestamp(forecaster.last_date_).date()
    daily = daily_demand(ds.demand, ds.orders)
    last = pd.Timestamp(daily["date"].max()).date()
    first = trained_until + timedelta(days=1)
    if since is not None and since < first:
        raise InvalidInput(
            f"--since {since}: {model} v{version} was fitted on demand through "
            f"{trained_until}; its forecasts start on {first}",
            since=str(since),
        )
    if last < (since or first):
        raise InvalidInput(
            f"nothing to monitor: the dataset's last demand day is {last} and {model} "
            f"v{version} was fitted through {trained_until}; give newer data",
            since=str(since or first),
        )
    with step("forecasting the days after training as served"):
        frame = forecasts(forecaster, daily, _step_days(run_id, evaluation))
    if since is not None:
        frame = frame[frame["date"] >= pd.Timestamp(since)]
    unknown = sorted(set(daily["unique_id"]) - set(forecaster.series_ids))
    rules = policy.monitoring
    categories = ds.items.set_index(ds.items["item_id"].astype(str))["category"]
    frame = frame.assign(category=frame["item_id"].astype(str).map(categories).to_numpy())
    backtest = {k: v for k, v in (evaluation.get("backtest") or {}).items() if k != "by_segment"}
    block = demand_block(frame, trained_until=str(trained_until), backtest=backtest, rules=rules)
    block["series_not_in_model"] = len(unknown)
    found = alerts_of(
        pd.DataFrame(block["weeks"]), model=model, version=version, backtest=backtest, rules=rules
    )
    body = {
        **report_header(model, version, since=str(since or first), days=frame["date"]),
        "reference": None,  # a forecaster's inputs are its own past demand: no feature reference
        "demand": block,
        "data_quality": [],
    }
    return body, found
