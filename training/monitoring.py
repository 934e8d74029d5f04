"""Monitoring the served order-risk model on a dataset: drift per feature-day, performance
and its estimate per week, and the alerts they raise (``stockpilot monitor``).

The dataset's order lines are scored with the served model exactly as training and
serving build features (point-in-time state, :mod:`features.order_risk`), day by day
from ``since``. Drift compares each day's features with the reference stored with the
model (:mod:`models.drift`); performance joins each line's P(miss) to its outcome once
the fulfillments show one (:mod:`models.performance`). The report is plain JSON, written
to ``home/monitoring/<model>.json`` for ``GET /v1/monitoring/{model}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from features.dataset import Dataset
from features.quality import master_data_findings
from governance.policy import MonitoringPolicy
from models import drift, performance
from models.order_risk_scorer import OrderRiskScorer
from stockpilot.errors import InvalidInput, NotFound
from training.order_risk import Prepared

REFERENCE_ARTIFACT = "monitoring_reference.json"
# Features a day cannot be compared on with the training days: a day holds one weekday.
NOT_MONITORED = {"order_weekday": "calendar: one day holds one weekday"}
SEGMENTS = ("location_id", "carrier_id", "category")
CALIBRATION_SEGMENTS = ("carrier_id", "location_id")
MIN_SEGMENT_LINES = 20  # a segment-day with fewer known outcomes is not tested


def reference_for(scorer: OrderRiskScorer, prepared: Prepared) -> drift.Reference:
    """The monitoring reference of a freshly trained model, from the dataset it learnt
    from: the features of the last two reference windows of order lines (the latest is
    the reference, the one before measures dispersion), and the dispersion of the
    segment calibration checks over the latest window's known outcomes."""
    day = prepared.orders["order_ts"].dt.normalize()
    start = day.max() - pd.Timedelta(days=2 * drift.REFERENCE_DAYS - 1)
    mask = (day >= start).to_numpy()
    served = _served(scorer, prepared, mask, None)
    skip = {k: v for k, v in NOT_MONITORED.items() if k in scorer.feature_names}
    reference = drift.fit_reference(
        served.X, served.names, served.lines["day"].to_numpy(), skip=skip
    )
    recent = served.lines[served.lines["day"] >= reference.period[0]]
    reference.calibration = {
        segment: drift.calibration_dispersion(_segment_days(recent, segment)["z"].to_numpy())
        for segment in CALIBRATION_SEGMENTS
        if recent[segment].notna().any()
    }
    return reference


@dataclass
class ServedLines:
    """The monitored lines: their keys and segments, features, P(miss) and outcome."""

    lines: pd.DataFrame  # order_id, line_no, day, week, location_id, carrier_id, category, ...
    X: np.ndarray
    names: list[str]


def served_lines(ds: Dataset, scorer: OrderRiskScorer, since: date | None = None) -> ServedLines:
    """Score every order line from ``since`` (default: all) with ``scorer``."""
    from training.order_risk import prepare

    prepared = prepare(ds)
    day = prepared.orders["order_ts"].dt.normalize()
    mask = np.ones(len(day), dtype=bool) if since is None else (day >= pd.Timestamp(since))
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        last = day.max().date() if len(day) else None
        raise InvalidInput(
            f"--since {since}: the dataset has no order lines from that day on "
            f"(its last order day is {last})",
            since=str(since),
        )
    return _served(scorer, prepared, mask, ds.items)


def _served(
    scorer: OrderRiskScorer, prepared: Prepared, mask: np.ndarray, items: pd.DataFrame | None
) -> ServedLines:
    day = prepared.orders["order_ts"].dt.normalize()
    X = scorer.features.transform(*prepared.take(mask))
    orders = prepared.orders.loc[mask].reset_index(drop=True)
    lines = pd.DataFrame(
        {
            "order_id": orders["order_id"].astype(str),
            "line_no": orders["line_no"].to_numpy(),
            "day": day[mask].dt.date.astype(str).to_numpy(),
            "week": day[mask].dt.strftime("%G-W%V").to_numpy(),
        }
    )
    for column in ("location_id", "carrier_id"):
        lines[column] = orders[column].astype(str) if column in orders else None
    if items is not None:
        categories = items.set_index(items["item_id"].astype(str))["category"]
        lines["category"] = orders["item_id"].astype(str).map(categories).astype(object).to_numpy()
    else:
        lines["category"] = None
    lines["p_miss"] = scorer.classifier.predict_proba(X)[:, 1]
    outcomes = prepared.outcomes.loc[mask]
    lines["miss"] = outcomes["miss"].to_numpy(dtype=float)
    known = outcomes["final_day"].to_numpy(dtype=float)
    known_day = pd.to_datetime(np.where(np.isnan(known), np.nan, known), unit="D")
    lines["known_day"] = pd.Series(known_day).dt.date.astype(str).where(~np.isnan(known), None)
    return ServedLines(lines, X, list(scorer.feature_names))


def drift_by_day(
    served: ServedLines,
    reference: drift.Reference,
    *,
    q: float,
    min_psi: float,
    since: date | None = None,
) -> pd.DataFrame:
    """One row per feature-day from ``since`` (default: the first day served); each day
    is tested on its lines and those of the ``reference.span − 1`` days before it."""
    rows: list[dict[str, Any]] = []
    days = served.lines["day"].to_numpy().astype("datetime64[D]")
    order = np.argsort(days, kind="stable")
    ordered = days[order]
    first = np.datetime64(since, "D") if since is not None else ordered[0]
    for day in np.unique(ordered[ordered >= first]):
        lo, hi = np.searchsorted(ordered, [day - (reference.span - 1), day + 1])
        tested = drift.test_day(
            reference, served.X[order[lo:hi]], served.names, str(day), q=q, min_psi=min_psi
        )
        rows.extend(row.as_dict() for row in tested)
    columns = list(drift.DriftRow.__dataclass_fields__)
    return pd.DataFrame(rows, columns=columns)


def _segment_days(lines: pd.DataFrame, segment: str) -> pd.DataFrame:
    """Per segment value and day an outcome became known: the calibration z and gap."""
    known = lines[lines["known_day"].notna() & lines["miss"].notna() & lines[segment].notna()]
    rows = []
    for (value, day), group in known.groupby([segment, "known_day"], sort=True):
        if len(group) < MIN_SEGMENT_LINES:
            continue
        z, gap = drift.calibration_z(group["miss"].to_numpy(), group["p_miss"].to_numpy())
        rows.append(
            {"segment": segment, "value": value, "day": day, "n": len(group), "z": z, "gap": gap}
        )
    return pd.DataFrame(rows, columns=["segment", "value", "day", "n", "z", "gap"])


def calibration_by_day(
    served: ServedLines,
    reference: drift.Reference,
    *,
    q: float,
    min_gap: float,
    since: date | None = None,
) -> pd.DataFrame:
    """Concept drift by segment: per carrier (location) and day of known outcomes, the
    observed against the predicted misses; rows shaped like :func:`drift_by_day`'s
    (``statistic`` is z, ``psi`` the miss-rate gap), BH across each day's segments."""
    from scipy import stats

    parts = [
        _segment_days(served.lines, segment).assign(dispersion=dispersion)
        for segment, dispersion in reference.calibration.items()
    ]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    columns = list(drift.DriftRow.__dataclass_fields__)
    if frame.empty:
        return pd.DataFrame(columns=columns)
    if since is not None:
        frame = frame[frame["day"] >= str(since)]
    frame["p_value"] = 2 * stats.norm.sf(np.abs(frame["z"]) / np.sqrt(frame["dispersion"]))
    frame["p_adjusted"] = frame.groupby("day")["p_value"].transform(
        lambda p: drift.benjamini_hochberg(p.to_numpy())
    )
    out = pd.DataFrame(
        {
            "day": frame["day"],
            "feature": "calibration[" + frame["segment"] + "=" + frame["value"].astype(str) + "]",
            "n": frame["n"],
            "statistic": frame["z"],
            "dof": 1,
            "p_value": frame["p_value"],
            "p_adjusted": frame["p_adjusted"],
            "psi": frame["gap"],
            "js": np.nan,
        }
    )
    out["alarm"] = (out["p_adjusted"] <= q) & (out["psi"].abs() >= min_gap)
    return out[columns].reset_index(drop=True)


def weekly_performance(served: ServedLines, weights: np.ndarray | None = None) -> pd.DataFrame:
    """Per ISO week: realised AUC/Brier/ECE on the labelled lines beside CBPE on all."""
    frame = served.lines.assign(weight=1.0 if weights is None else weights)
    return performance.table(frame, by=["week"])


def segment_performance(served: ServedLines) -> dict[str, pd.DataFrame]:
    return {
        s: performance.table(served.lines, by=[s])
        for s in SEGMENTS
        if served.lines[s].notna().any()
    }


def data_quality(ds: Dataset) -> list[dict[str, Any]]:
    """Master-data findings of the dataset (the contract itself was checked on loading)."""
    return [f.to_dict() for f in master_data_findings(ds) if f.n_rows > 0]


def alert_groups(
    drifts: pd.DataFrame,
    weeks: pd.DataFrame,
    quality: list[dict[str, Any]],
    *,
    model: str,
    version: str,
    auc_drop: float,
) -> list[dict[str, Any]]:
    """The alerts of one run: one per drifting feature (its days listed), one per week
    whose realised or estimated AUC fell more than ``auc_drop`` below training's, one per
    data-quality rule broken."""
    alerts: list[dict[str, Any]] = []
    alarms = drifts[drifts["alarm"]] if not drifts.empty else drifts
    for feature, group in alarms.groupby("feature", sort=True):
        worst = group.sort_values("psi", ascending=False).head(5)
        alerts.append(
            {
                "model": model,
                "model_version": version,
                "kind": "drift",
                "feature": str(feature),
                "days": sorted(group["day"].astype(str)),
                "evidence": {
                    "days_alarmed": len(group),
                    "max_psi": float(group["psi"].max()),
                    "max_js": float(group["js"].max()),
                    "min_p_adjusted": float(group["p_adjusted"].min()),
                    "worst_days": worst[["day", "n", "psi", "js", "p_adjusted"]].to_dict("records"),
                },
            }
        )
    for rule in quality:
        alerts.append(
            {
                "model": model,
                "model_version": version,
                "kind": "data_quality",
                "feature": f"{rule['table']}.{rule['column'] or ''}: {rule['rule']}",
                "days": [str(rule.get("day") or date.today())],
                "evidence": rule,
            }
        )
    if not weeks.empty and "auc_reference" in weeks.attrs:
        floor = weeks.attrs["auc_reference"] - auc_drop
        low = weeks[(weeks["auc"] < floor) | (weeks["expected_auc"] < floor)]
        if len(low):
            alerts.append(
                {
                    "model": model,
                    "model_version": version,
                    "kind": "performance",
                    "feature": "auc",
                    "days": sorted(low["week"].astype(str)),
                    "evidence": {
                        "floor": floor,
                        "weeks": low.to_dict("records"),
                    },
                }
            )
    return alerts


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as the report's JSON rows (six significant decimals, NaN as null)."""
    return json.loads(frame.to_json(orient="records", double_precision=6))


def report_header(model: str, version: str, *, since: str, days: pd.Series) -> dict[str, Any]:
    """What every model's report opens with; ``days``: the day of each line looked at."""
    return {
        "model": model,
        "model_version": version,
        "since": since,
        "days": int(days.nunique()),
        "lines": len(days),
    }


def reference_block(reference: drift.Reference | None) -> dict[str, Any] | None:
    """The reference the drift was tested against (None: the model was logged without one)."""
    if reference is None:
        return None
    return {
        "period": list(reference.period or ()),
        "features": len(reference.features),
        "not_monitored": reference.skipped,
    }


def drift_block(rules: MonitoringPolicy, drifts: pd.DataFrame) -> dict[str, Any]:
    """The drift tests of a run: the rule, how many feature-days, the alarmed rows and the
    per-feature summary the charts draw."""
    return {
        "q": rules.drift_q,
        "min_psi": rules.min_psi,
        "feature_days": len(drifts),
        "alarms": int(drifts["alarm"].sum()) if len(drifts) else 0,
        "rows": records(drifts[drifts["alarm"]]) if len(drifts) else [],
        "by_feature": by_feature(drifts),
    }


def by_feature(drifts: pd.DataFrame) -> list[dict[str, Any]]:
    """Per feature: days tested, days alarmed, the largest PSI and JS (for charts)."""
    if drifts.empty:
        return []
    grouped = drifts.groupby("feature").agg(
        days=("day", "size"),
        alarms=("alarm", "sum"),
        max_psi=("psi", "max"),
        max_js=("js", "max"),
        last_psi=("psi", "last"),
    )
    return records(grouped.reset_index())


def load_served(model: str, alias: str = "champion") -> tuple[OrderRiskScorer, str, Any]:
    """The served scorer, its version and its monitoring reference (None if it has none)."""
    from stockpilot import tracking

    if model != "order-risk":
        raise InvalidInput(
            f"model: monitoring covers order-risk, substitution and demand; got {model!r}",
            model=model,
        )
    try:
        version = tracking.resolve(model, alias)
    except Exception as err:  # MlflowException: no such alias or registry unreachable
        raise NotFound(
            f"no {model}@{alias} in the model registry ({err}); train one with "
            f"`stockpilot train {model}`",
            model=model,
        ) from None
    scorer = tracking.load_pyfunc(f"models:/{model}/{version.version}").unwrap_python_model()
    try:
        raw = tracking.run_artifact(version.run_id, REFERENCE_ARTIFACT)
        reference = drift.Reference.from_dict(raw)
    except Exception:  # an older model logged without a reference
        reference = None
    return scorer.scorer, version.version, reference


def summary(report: Mapping[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = [
        f"{report['model']} v{report['model_version']}: {report['days']} days, "
        f"{report['lines']:,} lines from {report['since']}",
    ]
    if report.get("demand") is not None:
        pass  # a forecaster's inputs are its own past demand: no feature reference
    elif report.get("reference") is None:
        lines.append("drift: no reference stored with this model version (retrain to get one)")
    else:
        drifts, calibration = report["drift"], report.get("calibration")
        lines.append(
            f"drift: {drifts['alarms']} of {drifts['feature_days']} feature-days alarm "
            f"(BH q={drifts['q']}, PSI ≥ {drifts['min_psi']})"
            + (
                f"; calibration: {calibration['alarms']} of {calibration['segment_days']} "
                "segment-days"
                if calibration
                else ""
            )
        )
    if "substitution" in report:
        lines += _substitution_lines(report["substitution"])
    if "demand" in report:
        lines += _demand_lines(report["demand"])
    weeks = (report.get("performance") or {}).get("weeks") or []
    if weeks:
        lines.append("week       lines  labelled  auc    expected_auc  brier  expected_brier  ece")
    for w in weeks:
        lines.append(
            f"{w['week']}  {w['n']:6d}  {w['labelled']:8d}  {_f(w['auc'])}  "
            f"{_f(w['expected_auc'])}         {_f(w['brier'])}  {_f(w['expected_brier'])}"
            f"           {_f(w['ece'])}"
        )
    for alert in report["alerts"]:
        unit = "week(s)" if "-W" in alert["days"][0] else "day(s)"
        lines.append(
            f"alert {alert['kind']} {alert['feature']}: {len(alert['days'])} {unit} "
            f"from {alert['days'][0]}"
        )
    queue = report.get("queue") or {}
    if queue.get("opened") or queue.get("already_open"):
        lines.append(
            f"model-monitoring queue: {len(queue['opened'])} item(s) opened, "
            f"{len(queue['already_open'])} alert(s) already open"
        )
    return "\n".join(lines)


def _substitution_lines(block: Mapping[str, Any]) -> list[str]:
    out = [
        f"training hit@1 (switch occasions) {_f(block.get('training_hit1'))}",
        "week      offers  labelled  accept  expected  hit@1  expected  events  ece",
    ]
    for w in block["weeks"]:
        out.append(
            f"{w['week']}  {w['offers']:6d}  {w['labelled']:8d}  {_f(w['accept_rate'])}   "
            f"{_f(w['expected_accept_rate'])}     {_f(w['hit1'])}  {_f(w['expected_hit1'])}     "
            f"{w['switch_occasions']:6d}  {_f(w['ece'])}"
        )
    return out


def _demand_lines(block: Mapping[str, Any]) -> list[str]:
    backtest = block.get("backtest") or {}
    out = [
        f"fitted through {block['trained_until']}; backtest WAPE {_f(backtest.get('wape'))}, "
        f"bias {_f(backtest.get('bias'))}, coverage80 {_f(backtest.get('coverage80'))}",
        "week      series  actual    forecast  wape   bias    coverage80",
    ]
    for w in block["weeks"]:
        out.append(
            f"{w['week']}  {w['series']:6d}  {w['actual']:8.0f}  {w['forecast']:8.0f}  "
            f"{_f(w['wape'])}  {w['bias']:+.3f}  {_f(w['coverage80'])}"
        )
    return out


def _f(value: Any) -> str:
    return "  -  " if value is None or value != value else f"{value:.3f}"
