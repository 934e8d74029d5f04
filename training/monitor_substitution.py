"""Monitoring the served substitution model on a dataset (``stockpilot monitor substitution``).

Every logged offer of the dataset's ``substitutions`` table is scored with the served
model as training scores it (point-in-time features, :mod:`features.substitution`).
Per ISO week and segment (location, category of the wanted item):

- **offers** made, offer sets, **accept rate** realised (offers whose outcome is known)
  beside the expected accept rate (mean calibrated P(accept) of every offer);
- **hit@1** on switch occasions (:mod:`training.substitution_eval`: the sets where a
  substitute, not the original item, was accepted) beside its CBPE estimate. If the
  P(accept) are calibrated and acceptances within a set independent, a set is a switch
  occasion with probability 1 − Π(1 − p_j) over its substitutes and its top offer is
  an accepted substitute with probability p_top, so expected hit@1 =
  Σ p_top / Σ (1 − Π(1 − p_j)) over the sets (a ratio of expectations);
- **ECE** and **Brier** of P(accept), and a calibration test of the week: z = (accepted −
  Σ p) / √Σ p(1 − p), alarming when its p-value is ≤ ``monitoring.drift_q`` and
  |realised − expected accept rate| ≥ ``monitoring.min_calibration_gap``.

Feature drift uses the reference logged with the model (``monitoring_reference.json``,
:func:`reference_for`) and the tests of :mod:`models.drift`, on seven days of offers
per test (a day holds tens of offers, not hundreds of order lines).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from features.dataset import Dataset
from features.substitution_context import offer_set_ids
from models import drift
from models.reliability import expected_calibration_error
from training.substitution_eval import ranking_metrics, switch_relevance

SPAN_DAYS = 7  # days of offers each drift test looks at
SEGMENTS = ("location_id", "category")
MIN_EVENTS = 20  # a week with fewer (expected) switch occasions is reported, not judged
MIN_OFFERS = 50  # a week with fewer labelled offers is not calibration-tested


def numeric(X: pd.DataFrame) -> np.ndarray:
    """The feature frame as float (substitution features are numeric codes already)."""
    return X.to_numpy(dtype=float)


def reference_for(X: pd.DataFrame, ts: pd.Series) -> drift.Reference:
    """The monitoring reference of a freshly trained substitution model: its features on
    the last 90 days of the training offers, tested ``SPAN_DAYS`` days at a time."""
    days = pd.to_datetime(ts).dt.date.astype(str).to_numpy()
    return drift.fit_reference(numeric(X), list(X.columns), days, span=SPAN_DAYS)


def served_offers(ds: Dataset, recommender: Any) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Each offer's keys, segments, P(accept), outcome; and the feature matrix.

    Point-in-time history counts an offer still without outcome as not accepted (it only
    affects the features of later offers, themselves mostly without outcome)."""
    from training.substitution import offer_rows  # it imports this module's reference_for

    offers = offer_rows(ds, labelled_only=False)
    known = offers["accepted"].notna().to_numpy()
    accepted = offers["accepted"].astype(object).where(known, False).astype(bool)
    X = recommender.features.transform(
        offers.assign(accepted=accepted), point_in_time=True, orders=ds.orders
    )
    p = recommender.model.predict_proba(X)[:, 1]
    ts = pd.to_datetime(offers["ts"])
    categories = ds.items.set_index(ds.items["item_id"].astype(str))["category"]
    y = np.where(known, accepted.to_numpy(dtype=float), np.nan)
    lines = pd.DataFrame(
        {
            "event_id": offers["event_id"].astype(str) if "event_id" in offers else None,
            "set": offer_set_ids(offers),
            "day": ts.dt.date.astype(str).to_numpy(),
            "week": ts.dt.strftime("%G-W%V").to_numpy(),
            "location_id": offers["location_id"].astype(str) if "location_id" in offers else None,
            "category": offers["original_item_id"].astype(str).map(categories).to_numpy(),
            "substitute": switch_relevance(offers, np.ones(len(offers), dtype=bool)),
            "p_accept": p,
            "accepted": y,
        }
    )
    return lines, numeric(X), list(X.columns)


def expected_hit1(lines: pd.DataFrame) -> tuple[float, float]:
    """CBPE hit@1 on switch occasions and the expected number of occasions (see module)."""
    if lines.empty:
        return float("nan"), 0.0
    frame = lines.assign(row=np.arange(len(lines)))
    ranked = frame.sort_values(["set", "p_accept", "row"], ascending=[True, False, True])
    top = ranked.groupby("set", sort=False).head(1)
    p_top = (top["p_accept"] * top["substitute"]).sum()
    subs = frame[frame["substitute"]]
    occasion = 1.0 - np.exp(
        np.log1p(-subs["p_accept"].clip(upper=1 - 1e-12)).groupby(subs["set"]).sum()
    )
    events = float(occasion.sum())
    return (float(p_top / events) if events > 0 else float("nan")), events


def metrics(lines: pd.DataFrame) -> dict[str, Any]:
    """Realised and estimated figures of one group of offers."""
    known = lines[lines["accepted"].notna()]
    y, p = known["accepted"].to_numpy(float), known["p_accept"].to_numpy(float)
    expected, events = expected_hit1(lines)
    realised = (
        ranking_metrics(
            known["set"].to_numpy(),
            (y > 0) & known["substitute"].to_numpy(bool),
            p,
        )
        if len(known)
        else {"hit@1_switch": float("nan"), "n_events": 0}
    )
    z, gap = drift.calibration_z(y, p)
    return {
        "offers": len(lines),
        "sets": int(lines["set"].nunique()),
        "labelled": len(known),
        "accept_rate": float(y.mean()) if len(y) else float("nan"),
        "expected_accept_rate": float(lines["p_accept"].mean()) if len(lines) else float("nan"),
        "hit1": realised["hit@1_switch"],
        "switch_occasions": int(realised["n_events"]),
        "expected_hit1": expected,
        "expected_switch_occasions": events,
        "ece": expected_calibration_error(y, p) if len(y) else float("nan"),
        "brier": float(np.mean((p - y) ** 2)) if len(y) else float("nan"),
        "calibration_z": z if len(y) else float("nan"),
        "calibration_p": float(2 * stats.norm.sf(abs(z))) if len(y) else float("nan"),
        "calibration_gap": gap if len(y) else float("nan"),
    }


def table(lines: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    rows = [
        {**dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)), **metrics(g)}
        for key, g in lines.groupby(by, sort=True, dropna=True)
    ]
    return pd.DataFrame(rows)


def segment_tables(lines: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {s: table(lines, ["week", s]) for s in SEGMENTS if lines[s].notna().any()}


def performance_alerts(
    weeks: pd.DataFrame,
    *,
    model: str,
    version: str,
    training_hit1: float | None,
    hit1_drop: float,
    q: float,
    min_gap: float,
) -> list[dict[str, Any]]:
    """A hit@1 alert (weeks whose realised or expected hit@1 fell ``hit1_drop`` below the
    training test figure) and a calibration alert (weeks whose accept rate departs from
    the predicted one: p ≤ ``q`` and gap ≥ ``min_gap``); weeks listed, one item each."""
    alerts: list[dict[str, Any]] = []
    if weeks.empty:
        return alerts
    if training_hit1 is not None:
        floor = training_hit1 - hit1_drop
        judged = weeks[weeks["expected_switch_occasions"] >= MIN_EVENTS]
        realised = (judged["switch_occasions"] >= MIN_EVENTS) & (judged["hit1"] < floor)
        low = judged[realised | (judged["expected_hit1"] < floor)]
        if len(low):
            alerts.append(_alert(model, version, "performance", "hit1", low, {"floor": floor}))
    tested = weeks[weeks["labelled"] >= MIN_OFFERS]
    off = tested[(tested["calibration_p"] <= q) & (tested["calibration_gap"].abs() >= min_gap)]
    if len(off):
        alerts.append(
            _alert(model, version, "calibration", "accept_rate", off, {"q": q, "min_gap": min_gap})
        )
    return alerts


def _alert(
    model: str, version: str, kind: str, feature: str, weeks: pd.DataFrame, rule: dict[str, Any]
) -> dict[str, Any]:
    return {
        "model": model,
        "model_version": version,
        "kind": kind,
        "feature": feature,
        "days": sorted(weeks["week"].astype(str)),  # ISO weeks: one alert per week at most
        "evidence": {**rule, "weeks": weeks.to_dict("records")},
    }


def run(
    model: str,
    ds: Dataset,
    *,
    since: Any,
    policy: Any,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One monitoring run of the served substitution model on ``ds``: the report's body
    (without the queue) and its alerts."""
    from datetime import date, timedelta

    from stockpilot.errors import InvalidInput
    from stockpilot.progress import step
    from training import monitoring
    from training.monitor_run import served_model

    with step("loading the served model and its monitoring reference"):
        recommender, version, reference, evaluation = served_model(model)
    with step("scoring the logged offers with the served model"):
        lines, X, names = served_offers(ds, recommender)
    last = date.fromisoformat(lines["day"].max())
    if since is None and reference is not None and reference.period:
        since = date.fromisoformat(reference.period[1]) + timedelta(days=1)
        if since > last:
            raise InvalidInput(
                f"nothing to monitor: the dataset's last offer day is {last} and the "
                f"reference of {model} v{version} already covers it (it ends on "
                f"{reference.period[1]}); give newer data, or --since to look back",
                since=str(since),
            )
    if since is not None and since > last:
        raise InvalidInput(
            f"--since {since}: the dataset has no offers from that day on "
            f"(its last offer day is {last})",
            since=str(since),
        )
    rules = policy.monitoring
    columns = list(drift.DriftRow.__dataclass_fields__)
    if reference is None:
        drifts = pd.DataFrame(columns=columns)
    else:
        with step("testing drift of the offer features"):
            served = monitoring.ServedLines(lines, X, names)
            drifts = monitoring.drift_by_day(
                served, reference, q=rules.drift_q, min_psi=rules.min_psi, since=since
            )
    tested = lines[lines["day"] >= str(since)] if since else lines
    weeks = table(tested, ["week"])
    test = (evaluation or {}).get("test") or {}
    training_hit1 = test.get("hit@1_switch")
    found = monitoring.alert_groups(
        drifts, pd.DataFrame(), [], model=model, version=version, auc_drop=rules.auc_drop
    )
    found += performance_alerts(
        weeks,
        model=model,
        version=version,
        training_hit1=training_hit1,
        hit1_drop=rules.hit1_drop,
        q=rules.drift_q,
        min_gap=rules.min_calibration_gap,
    )
    body = {
        **monitoring.report_header(
            model, version, since=str(since or tested["day"].min()), days=tested["day"]
        ),
        "reference": monitoring.reference_block(reference),
        "drift": monitoring.drift_block(rules, drifts),
        "substitution": {
            "training_hit1": training_hit1,
            "training_ece": ((evaluation or {}).get("calibration") or {}).get("ece"),
            "hit1_drop": rules.hit1_drop,
            "weeks": monitoring.records(weeks),
            "segments": {k: monitoring.records(v) for k, v in segment_tables(tested).items()},
        },
        "data_quality": [],
    }
    return body, found
