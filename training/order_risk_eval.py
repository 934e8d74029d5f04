"""Evaluation of the order-risk model: metrics, baselines, oracle, reliability, plots.

Everything here is computed on the test slice (the latest lines of the time-ordered
split). ``truth/`` of simulated data is read by the caller and only used here: the
oracle is the simulator's true P(miss) of the same test lines, scored like a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from models.order_risk_scorer import AGGREGATIONS, aggregate
from models.reliability import expected_calibration_error, reliability
from training.order_risk_baselines import TabularBaseline, logistic_baseline


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    y = np.asarray(y, dtype=float)
    return {
        "auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "base_rate": float(y.mean()),
        "n": len(y),
    }


def rule_baseline(derived: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """A planner's rule: stock does not cover the line, or the lane is often late."""
    zeros = np.zeros(n)
    shortfall = np.nan_to_num(derived.get("inv_shortfall_share", zeros))
    late = np.nan_to_num(derived.get("lane_late_rate", zeros))
    return shortfall + late


def baselines(
    prepared: Any,
    masks: Mapping[str, np.ndarray],
    raw: pd.DataFrame,
    derived: Mapping[str, np.ndarray],
    n_jobs: int = 1,
) -> dict[str, np.ndarray]:
    """Each baseline's P(miss) (or score) on the test slice, fitted on the training slice.

    ``tabular`` and ``logistic`` learn from the raw order columns (``raw``, see
    :mod:`training.order_risk_baselines`), ``rule`` reads the test lines' ``derived``
    features. ``prepared`` is the pipeline's :class:`~training.order_risk.Prepared`.
    """
    train, test = masks["train"], masks["test"]
    y = prepared.outcomes["miss"].to_numpy(dtype=float)
    order_ts = prepared.orders["order_ts"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    tabular = TabularBaseline(n_jobs=n_jobs).fit(raw[train], y[train], order_ts[train])
    return {
        "tabular": tabular.predict_proba(raw[test]),
        "logistic": logistic_baseline(raw[train], y[train], raw[test]),
        "rule": rule_baseline(derived, int(test.sum())),
    }


def order_level(order_ids: np.ndarray, y: np.ndarray, p: np.ndarray) -> dict[str, dict[str, float]]:
    """Order score vs "any line missed" for every aggregation (orders fully in the slice)."""
    frame = pd.DataFrame({"order": order_ids, "y": y, "p": p})
    grouped = frame.groupby("order", sort=False)
    observed = grouped["y"].max().to_numpy()
    out: dict[str, dict[str, float]] = {}
    for how in AGGREGATIONS:
        score = grouped["p"].apply(lambda s, how=how: aggregate(s.to_numpy(), how)).to_numpy()
        out[how] = {
            "auc": float(roc_auc_score(observed, score)),
            "brier": float(brier_score_loss(observed, score)),
            "ece": expected_calibration_error(observed, score),
            "mean_score": float(score.mean()),
            "observed_rate": float(observed.mean()),
        }
    out["n_orders"] = {"n": len(observed)}
    return out


def erosion_metrics(flag: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    flag = np.asarray(flag, dtype=bool)
    truth = np.asarray(truth, dtype=bool)
    tp = float((flag & truth).sum())
    return {
        "precision": tp / max(flag.sum(), 1),
        "recall": tp / max(truth.sum(), 1),
        "n_flagged": int(flag.sum()),
        "n_true": int(truth.sum()),
    }


# --- plots ----------------------------------------------------------------------------------


def calibration_figure(y: np.ndarray, curves: Mapping[str, np.ndarray]) -> Any:
    """Reliability diagram of each probability in ``curves`` (e.g. model, oracle)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    for name, p in curves.items():
        table = reliability(y, p)
        ax.plot(
            table["predicted"],
            table["observed"],
            marker="o",
            label=f"{name} (ECE {expected_calibration_error(y, p):.3f})",
        )
    ax.set_xlabel("predicted P(miss)")
    ax.set_ylabel("observed miss rate")
    ax.set_title("Order-risk reliability (test slice)")
    ax.legend(loc="upper left")
    return fig


def shap_summary_figure(
    contributions: np.ndarray, features: np.ndarray, names: Sequence[str], max_display: int = 20
) -> Any:
    """SHAP beeswarm of the raw-margin contributions (shap's own plot)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import shap

    plt.figure()
    shap.summary_plot(
        contributions, features, feature_names=list(names), max_display=max_display, show=False
    )
    fig = plt.gcf()
    fig.suptitle("SHAP contributions to the raw log-odds (test sample)")
    return fig


def family_figure(families: np.ndarray, names: Sequence[str]) -> Any:
    """Mean |contribution| per driver family."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    importance = np.abs(families).mean(axis=0)
    order = np.argsort(importance)
    ax.barh(np.array(names)[order], importance[order])
    ax.set_xlabel("mean |SHAP| (log-odds)")
    ax.set_title("Driver families")
    fig.tight_layout()
    return fig
