"""The promotion gate: may the challenger replace the champion? (``stockpilot models gate``)

Both versions score the same recent holdout — the latest ``promotion.holdout_share`` of
labelled lines by order time, features computed point in time from the same dataset — and
are compared on the order-risk cost metric, log loss per line. The challenger passes when

- the **improvement** (champion log loss − challenger log loss, per line) has a 95 %
  paired-bootstrap CI above 0. The bootstrap resamples *orders*, not lines: the lines of
  one order share a customer, a day and usually a carrier, so they are not independent,
  and a line bootstrap would give a CI too narrow;
- no **segment** (location, carrier, category) with at least ``min_segment_lines`` lines
  is worse by more than ``segment_tolerance`` (relative log loss);
- its **calibration** (ECE, :mod:`models.reliability`) is within ``max_ece``;
- the **champion gate** of its own training run held (``training/gate.py``: it beats its
  best baseline).

The report is JSON with its sha256 (of the canonical JSON, without the hash), logged to
the challenger's MLflow run as ``gate_report.json`` and tagged on its version. When serving
has shadow-scored the challenger (``serving/shadow.py``), the report shows the share of
live cases it would have decided differently (``shadow.flip_rate``: orders routed
otherwise, substitute searches with another routing or best substitute, replenishment
series ordered or routed otherwise) and the model's own measures of the gap; it informs
the approver and is not a pass/fail check.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from governance.policy import PromotionPolicy
from models.reliability import expected_calibration_error
from stockpilot.errors import InvalidInput, NotFound
from stockpilot.jsonable import canonical_json, plain

EPS = 1e-6
SEGMENTS = ("location_id", "carrier_id", "category")


def log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per-line log loss (probabilities clipped to [1e-6, 1 − 1e-6])."""
    p = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def bootstrap_improvement(
    loss_champion: np.ndarray,
    loss_challenger: np.ndarray,
    groups: np.ndarray,
    samples: int,
    seed: int = 0,
    *,
    denominator: np.ndarray | None = None,
    resampled: str = "orders",
    unit: str = "log loss per line (champion − challenger; > 0: challenger better)",
) -> dict[str, Any]:
    """Improvement Σ(champion − challenger) / Σ denominator and its 95 % CI, resampling whole
    groups (orders, offer sets, series) with replacement.

    ``denominator`` defaults to one per row (a mean per row: log loss per line); WAPE passes
    the actual demand, so the statistic is the WAPE difference of each resample."""
    codes, _ = pd.factorize(pd.Series(groups).astype(str))
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    if n_groups < 2:
        raise InvalidInput(f"the holdout has {n_groups} {resampled}: too few to bootstrap")
    weights = np.ones(len(codes)) if denominator is None else np.asarray(denominator, float)
    diff = np.bincount(codes, weights=loss_champion - loss_challenger, minlength=n_groups)
    total = np.bincount(codes, weights=weights, minlength=n_groups)
    if total.sum() <= 0:
        raise InvalidInput(f"the holdout's {resampled} have no {unit.split(' (')[0]} to compare")
    rng = np.random.default_rng(seed)
    # Counts of each group in each resample (a multinomial draw is the same as resampling).
    draws = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=samples)
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = (draws @ diff) / (draws @ total)
    lo, hi = np.nanquantile(boot, [0.025, 0.975])
    return {
        "mean": float(diff.sum() / total.sum()),
        "ci95": [float(lo), float(hi)],
        "samples": samples,
        "resampled": resampled,
        resampled: n_groups,
        "unit": unit,
        "passed": bool(lo > 0),
    }


def segment_table(
    frame: pd.DataFrame,
    loss_champion: np.ndarray,
    loss_challenger: np.ndarray,
    cfg: PromotionPolicy,
    *,
    segments: tuple[str, ...] = SEGMENTS,
    denominator: np.ndarray | None = None,
    metric: str = "log_loss",
) -> dict[str, Any]:
    """Per segment value: rows, both metrics (Σ loss / Σ denominator), the relative change."""
    rows = []
    weights = np.ones(len(frame)) if denominator is None else np.asarray(denominator, float)
    losses = pd.DataFrame(
        {"champion": loss_champion, "challenger": loss_challenger, "weight": weights}
    )
    for column in segments:
        if column not in frame.columns:
            continue
        keys = frame[column].astype("string").fillna("(missing)").to_numpy()
        for value, part in losses.groupby(keys):
            total = float(part["weight"].sum())
            if total <= 0:
                continue
            champ = float(part["champion"].sum()) / total
            chall = float(part["challenger"].sum()) / total
            change = (chall - champ) / champ if champ > 0 else 0.0
            judged = len(part) >= cfg.min_segment_lines
            rows.append(
                {
                    "segment": column,
                    "value": str(value),
                    "lines": len(part),
                    f"champion_{metric}": champ,
                    f"challenger_{metric}": chall,
                    "relative_change": change,
                    "judged": judged,
                    "worse": bool(judged and change > cfg.segment_tolerance),
                }
            )
    worse = [r for r in rows if r["worse"]]
    return {
        "tolerance": cfg.segment_tolerance,
        "min_lines": cfg.min_segment_lines,
        "rows": rows,
        "worse": [f"{r['segment']}={r['value']}" for r in worse],
        "passed": not worse,
    }


def baseline_check(challenger_gate: Mapping[str, Any]) -> dict[str, Any]:
    """The champion gate of the challenger's own training run (``training/gate.py``)."""
    return {
        "beats_best_baseline": bool(challenger_gate.get("beats_best_baseline")),
        "best_baseline": challenger_gate.get("best_baseline"),
        "margin": challenger_gate.get("margin"),
        "passed": bool(challenger_gate.get("beats_best_baseline")),
    }


def ece_check(
    y: np.ndarray, p_champion: np.ndarray, p_challenger: np.ndarray, cfg: PromotionPolicy
) -> dict[str, Any]:
    """The challenger's ECE on the holdout against ``max_ece`` (probabilistic models)."""
    ece = expected_calibration_error(y, p_challenger)
    return {
        "challenger_ece": ece,
        "champion_ece": expected_calibration_error(y, p_champion),
        "max_ece": cfg.max_ece,
        "passed": bool(ece <= cfg.max_ece),
        "failure": f"challenger ECE {ece:.4f} is above max_ece {cfg.max_ece:.4f}",
    }


def judge(
    loss_champion: np.ndarray,
    loss_challenger: np.ndarray,
    frame: pd.DataFrame,
    challenger_gate: Mapping[str, Any],
    cfg: PromotionPolicy,
    *,
    calibration: dict[str, Any],
    group: str = "order_id",
    resampled: str = "orders",
    unit: str = "log loss per line (champion − challenger; > 0: challenger better)",
    metric: str = "log_loss",
    segments: tuple[str, ...] = SEGMENTS,
    denominator: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The four checks on one holdout, whatever the model: the paired-bootstrap CI of the
    cost-metric improvement, the segments, ``calibration`` (built by the caller, with the
    ``failure`` text to show) and the challenger's baseline gate."""
    improvement = bootstrap_improvement(
        loss_champion,
        loss_challenger,
        frame[group].to_numpy(),
        cfg.bootstrap_samples,
        seed,
        denominator=denominator,
        resampled=resampled,
        unit=unit,
    )
    table = segment_table(
        frame,
        loss_champion,
        loss_challenger,
        cfg,
        segments=segments,
        denominator=denominator,
        metric=metric,
    )
    failure = calibration.pop("failure", "the challenger's calibration is outside the limit")
    baseline = baseline_check(challenger_gate)
    failures = []
    if not improvement["passed"]:
        failures.append(
            f"improvement CI [{improvement['ci95'][0]:.4f}, {improvement['ci95'][1]:.4f}] "
            "is not above 0"
        )
    for row in table["rows"]:
        if row["worse"]:
            failures.append(
                f"segment {row['segment']}={row['value']} is {row['relative_change']:.1%} worse "
                f"(> {cfg.segment_tolerance:.0%} tolerance, {row['lines']} {unit_rows(resampled)})"
            )
    if not calibration["passed"]:
        failures.append(failure)
    if not baseline["passed"]:
        failures.append(
            f"the challenger does not beat its best baseline ({baseline['best_baseline']})"
        )
    return {
        "cost_metric": metric,
        "improvement": improvement,
        "segments": table,
        "calibration": calibration,
        "baseline_gate": baseline,
        "failures": failures,
        "passed": not failures,
    }


def unit_rows(resampled: str) -> str:
    """What one row of a holdout is, by what the bootstrap resamples."""
    return {"orders": "lines", "offer_sets": "offers", "series": "series-days"}.get(
        resampled, "rows"
    )


def compare(
    y: np.ndarray,
    p_champion: np.ndarray,
    p_challenger: np.ndarray,
    frame: pd.DataFrame,
    challenger_gate: Mapping[str, Any],
    cfg: PromotionPolicy,
    seed: int = 0,
) -> dict[str, Any]:
    """Order risk's gate on one holdout (``frame``: order_id and the segment columns)."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, float)
    l_champ, l_chall = log_loss(y, p_champion), log_loss(y, p_challenger)
    checks = judge(
        l_champ,
        l_chall,
        frame,
        challenger_gate,
        cfg,
        calibration=ece_check(y, p_champion, p_challenger, cfg),
        seed=seed,
    )
    return {
        "cost_metric": "log_loss",
        "champion_log_loss": float(l_champ.mean()),
        "challenger_log_loss": float(l_chall.mean()),
        "auc": {
            "champion": float(roc_auc_score(y, p_champion)),
            "challenger": float(roc_auc_score(y, p_challenger)),
        },
        **checks,
    }


def report_sha256(report: Mapping[str, Any]) -> str:
    body = {k: v for k, v in report.items() if k != "sha256"}
    canonical = canonical_json(plain(body, unknown="str"), what="gate report")
    return hashlib.sha256(canonical.encode()).hexdigest()


def holdout_mask(ts: pd.Series, share: float, labelled: np.ndarray | None = None) -> np.ndarray:
    """The latest ``share`` of rows by ``ts`` (of the ``labelled`` ones when given): order
    risk's lines by order time, substitution's offers by the start of their offer set (a
    set is never cut in two)."""
    ns = ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    among = np.ones(len(ns), dtype=bool) if labelled is None else labelled
    return among & (ns >= np.quantile(ns[among], 1 - share))


def shadow_report(model: str, version: str) -> dict[str, Any] | None:
    """What serving's shadow scoring counted for ``model`` v``version`` (``serving/shadow.py``
    writes it under the settings' ``shadow_dir``), or None when it never shadowed it."""
    from stockpilot.settings import get_settings

    path = get_settings().shadow_dir / f"{model}-v{version}.json"
    try:
        counted = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    counted.pop("kept", None)  # what serving restores its running measures from
    return counted


def order_risk_checks(
    model: str,
    data: Path,
    cfg: PromotionPolicy,
    versions: Mapping[str, str],
    challenger_gate: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Order risk's holdout (the latest labelled lines by order time) and its checks."""
    from stockpilot import tracking
    from stockpilot.data import load_dataset
    from training.order_risk import prepare, used_tables

    ds = used_tables(load_dataset(data))
    prepared = prepare(ds)
    y_all = prepared.outcomes["miss"].to_numpy(float)
    mask = holdout_mask(prepared.orders["order_ts"], cfg.holdout_share, ~np.isnan(y_all))
    fields, state = prepared.take(mask)
    probs = {}
    for alias, version in versions.items():
        scorer = tracking.load_pyfunc(f"models:/{model}/{version}").unwrap_python_model().scorer
        X = scorer.features.transform(fields, state)
        probs[alias] = scorer.classifier.predict_proba(X)[:, 1]
    frame = prepared.orders.loc[mask].reset_index(drop=True)
    if "category" not in frame.columns:
        frame = frame.merge(ds.items[["item_id", "category"]], on="item_id", how="left")
    holdout = {
        "share": cfg.holdout_share,
        "lines": int(mask.sum()),
        "orders": int(frame["order_id"].nunique()),
        "from": str(frame["order_ts"].min()),
        "to": str(frame["order_ts"].max()),
    }
    checks = compare(
        y_all[mask], probs["champion"], probs["challenger"], frame, challenger_gate, cfg
    )
    return holdout, checks


def run_gate(
    model: str,
    data: Path,
    cfg: PromotionPolicy,
    *,
    shadow: Mapping[str, Any] | None = None,
    report_path: Path | None = None,
) -> dict[str, Any]:
    """Gate ``model@challenger`` against ``model@champion`` on ``data``; returns the report
    (with ``sha256``), logged to the challenger's run and tagged on its version."""
    from stockpilot import tracking
    from training.gate_holdouts import demand_checks, substitution_checks

    checks_of = {
        "order-risk": order_risk_checks,
        "substitution": substitution_checks,
        "demand": demand_checks,
    }
    if model not in checks_of:
        raise InvalidInput(
            f"models gate: {model!r} is not supported (supported: {', '.join(checks_of)})"
        )
    champion = tracking.alias_version(model, "champion")
    challenger = tracking.alias_version(model, "challenger")
    if challenger is None:
        raise NotFound(f"{model} has no challenger: run `stockpilot retrain {model}` first")
    if champion is None:
        raise NotFound(f"{model} has no champion to compare with: promote one with train")
    info = tracking.version_info(model, challenger)
    evaluation = tracking.run_artifact(info.run_id, "evaluation.json") if info.run_id else {}
    holdout, checks = checks_of[model](
        model,
        Path(data),
        cfg,
        {"champion": champion, "challenger": challenger},
        (evaluation or {}).get("gate", {}),
    )
    report: dict[str, Any] = {
        "model": model,
        "created_at": datetime.now(UTC).isoformat(),
        "data": str(data),
        "champion": {"version": champion},
        "challenger": {"version": challenger, "run_id": info.run_id},
        "holdout": holdout,
        **checks,
        # The decision-flip rate of the challenger on live requests, when serving shadowed it.
        "shadow": dict(shadow) if shadow else shadow_report(model, challenger),
    }
    report["sha256"] = report_sha256(report)
    if info.run_id:
        tracking.log_json_to_run(info.run_id, report, "gate_report.json")
    tracking.set_version_tag(model, challenger, "gate_report_sha256", report["sha256"])
    tracking.set_version_tag(
        model, challenger, "promotion_gate_passed", str(report["passed"]).lower()
    )
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(plain(report, unknown="str"), indent=2))
    return report
