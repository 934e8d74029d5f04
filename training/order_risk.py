"""Order-risk pipeline: load → point-in-time features → fit → evaluate → MLflow → registry.

``stockpilot train order-risk --data DIR`` calls :func:`train` (``stockpilot score
order-risk``: :mod:`training.order_risk_scoring`). The split is by time only: the earliest labelled
lines train, the next slice calibrates, the latest slice tests, with a week's
embargo between slices so that a slice's labels were known before the next begins.
``truth/`` (simulated data) is read by the evaluation alone.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.dataset import Dataset
from features.order_fields import line_fields
from features.order_outcomes import line_outcomes
from features.order_risk import FEATURE_SET, FEATURE_SET_VERSION, OrderRiskFeatures
from features.risk_history import state_values
from features.risk_state import RiskState
from models.order_risk import MarginErosionDetector, OrderRiskClassifier
from models.order_risk_scorer import OrderRiskScorer
from stockpilot.data import load_dataset, load_truth
from stockpilot.errors import InvalidInput
from stockpilot.jsonable import plain
from stockpilot.progress import console, step
from stockpilot.settings import Settings, get_settings
from training import gate
from training import order_risk_eval as ev
from training.order_risk_baselines import raw_columns
from training.splits import rows_by_time_quantile

MODEL_NAME = "order-risk"
SPLIT = (0.70, 0.85)  # train | calibration | test by order time of labelled lines
EMBARGO_DAYS = 7
MIN_LABELLED = 100
THREADED_ROWS = 200_000
DEFAULT_PARAMS: dict[str, Any] = {
    "n_estimators": 100,
    "num_leaves": 7,
    "max_depth": 6,
    "learning_rate": 0.1,
    "min_child_samples": 100,
    "early_stopping_share": 0.15,
}


@dataclass
class Prepared:
    """Everything computed once per dataset: labels, line fields, point-in-time state."""

    orders: pd.DataFrame
    outcomes: pd.DataFrame
    fields: dict[str, np.ndarray]
    state: dict[str, np.ndarray]

    def take(self, mask: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        return (
            {k: v[mask] for k, v in self.fields.items()},
            {k: v[mask] for k, v in self.state.items()},
        )


def used_tables(ds: Dataset) -> Dataset:
    """The tables order risk learns from; the others are dropped to save memory (and are
    not part of the dataset fingerprint of the model)."""
    return dataclasses.replace(ds, demand=None, substitutions=None, purchase_orders=None)


def prepare(ds: Dataset) -> Prepared:
    if ds.orders.empty:
        raise InvalidInput("the orders table has no rows: no order lines to learn from or score")
    if ds.inventory.empty:
        raise InvalidInput(
            "the inventory table has no rows: order risk reads the stock position of each "
            "line on its order day and needs at least one snapshot"
        )
    orders = ds.orders.reset_index(drop=True)
    outcomes = line_outcomes(ds).reset_index(drop=True)
    return Prepared(orders, outcomes, line_fields(orders), state_values(ds, outcomes))


def split_lines(
    order_ts: pd.Series, labelled: np.ndarray, cuts: tuple[float, float] = SPLIT
) -> dict[str, np.ndarray]:
    """Masks of the train / calibration / test slices of the labelled lines: by quantile of
    order time, a week's embargo before each cut (:func:`training.splits.rows_by_time_quantile`)."""
    if labelled.sum() < MIN_LABELLED:
        raise InvalidInput(
            f"too little order history to train order risk: need at least {MIN_LABELLED} "
            "order lines whose fulfillment shows the outcome (delivered, shipped short, or "
            f"still in transit past the promised date), the dataset has {int(labelled.sum())}",
            labelled=int(labelled.sum()),
        )
    slices = rows_by_time_quantile(
        order_ts, labelled, cuts, embargo=np.timedelta64(EMBARGO_DAYS, "D")
    )
    return dict(zip(("train", "calibration", "test"), slices, strict=True))


def require_both_outcomes(
    y: np.ndarray, masks: dict[str, np.ndarray], slices: tuple[str, ...]
) -> None:
    """Each slice must hold missed and fulfilled lines: nothing to learn or rank otherwise."""
    for name in slices:
        labels = np.unique(y[masks[name]])
        if len(labels) < 2:
            if not len(labels):
                found = "no lines"
            else:
                found = "only missed lines" if labels[0] == 1 else "only fulfilled lines"
            raise InvalidInput(
                f"need both missed and fulfilled lines in the {name} slice of the order "
                f"history (labelled lines cut by order time at {SPLIT[0]:.0%} and "
                f"{SPLIT[1]:.0%}, {EMBARGO_DAYS} days apart) to train order risk; it has "
                f"{found} ({int(masks[name].sum())} labelled lines)",
                slice=name,
            )


def fit(
    prepared: Prepared,
    masks: dict[str, np.ndarray],
    params: dict[str, Any] | None = None,
    n_jobs: int = 1,
) -> OrderRiskScorer:
    """Fit feature set, classifier (calibrated on the calibration slice) and detector.

    LightGBM gets ``n_jobs`` threads only for large training sets: below
    :data:`THREADED_ROWS` rows, thread start-up costs more than it saves.
    """
    y = prepared.outcomes["miss"].to_numpy(dtype=float)
    require_both_outcomes(y, masks, ("train", "calibration"))
    fields, state = prepared.take(masks["train"])
    n_jobs = n_jobs if masks["train"].sum() >= THREADED_ROWS else 1
    features = OrderRiskFeatures().fit(fields, state, y[masks["train"]])
    X_train = features.transform(fields, state)
    X_cal = features.transform(*prepared.take(masks["calibration"]))
    order_ts = prepared.orders["order_ts"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    classifier = OrderRiskClassifier(
        **{**DEFAULT_PARAMS, **(params or {})},
        monotone_constraints=features.monotone_,
        n_jobs=n_jobs,
    ).fit(
        X_train,
        y[masks["train"]],
        X_calib=X_cal,
        y_calib=y[masks["calibration"]],
        feature_names=features.feature_names_,
        calib_order=order_ts[masks["calibration"]],
        train_order=order_ts[masks["train"]],
    )
    return OrderRiskScorer(features, classifier, MarginErosionDetector().fit())


def evaluate(
    scorer: OrderRiskScorer,
    prepared: Prepared,
    masks: dict[str, np.ndarray],
    truth: dict[str, pd.DataFrame],
    raw: pd.DataFrame,
    n_jobs: int = 1,
) -> tuple[dict[str, Any], Any]:
    """``evaluation.json`` content, and the test slice's scores (for plots).

    ``raw`` is :func:`training.order_risk_baselines.raw_columns` of the same orders: what
    the ``tabular`` and ``logistic`` baselines learn from.
    """
    y = prepared.outcomes["miss"].to_numpy(dtype=float)
    test = masks["test"]
    scores = scorer.explain_arrays(*prepared.take(test), parallel=True)
    y_test = y[test]
    margin = scorer.classifier.booster_.predict(scores.features, raw_score=True)
    additivity = np.abs(scores.contributions.sum(axis=1) + scorer.expected_value - margin)
    baselines = ev.baselines(prepared, masks, raw, scores.derived, n_jobs)
    evaluation: dict[str, Any] = {
        "model": MODEL_NAME,
        "test": ev.classification_metrics(y_test, scores.probability),
        "baselines": {name: {"auc": _auc(y_test, p)} for name, p in baselines.items()},
        "calibration": scorer.classifier.calibration_.report(),
        "explain": {
            "additivity_max_err": float(additivity.max()),
            "expected_value": scorer.expected_value,
            "calibration": {
                "slope": scorer.classifier.calibration_slope_,
                "intercept": scorer.classifier.calibration_intercept_,
            },
        },
        "orders": ev.order_level(
            prepared.orders["order_id"].astype(str).to_numpy()[test], y_test, scores.probability
        ),
        "split": {name: int(mask.sum()) for name, mask in masks.items()},
        "n_features": len(scorer.feature_names),
        "n_trees": scorer.classifier.n_rounds_,
    }
    lines = truth.get("order_lines")
    if lines is not None:
        keyed = (
            prepared.orders[["order_id", "line_no"]]
            .astype({"order_id": str})
            .merge(lines.astype({"order_id": str}), how="left", on=["order_id", "line_no"])
        )
        oracle = keyed["p_miss"].to_numpy(dtype=float)[test]
        if not np.isnan(oracle).any():
            oracle_metrics = ev.classification_metrics(y_test, oracle)
            evaluation["oracle"] = {k: oracle_metrics[k] for k in ("auc", "brier", "ece")}
        anomaly = keyed["margin_anomaly"].fillna(False).to_numpy(dtype=bool)[test]
        evaluation["margin_erosion"] = ev.erosion_metrics(scores.erosion.flag, anomaly)
        evaluation["_oracle_p"] = oracle
    return evaluation, scores


def train(
    data: Path | str,
    report: Path | None = None,
    alias: str | None = "champion",
    params: dict[str, Any] | None = None,
    settings: Settings | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Train, evaluate, log and register the order-risk model; returns the evaluation.

    ``alias="champion"`` is only set past the champion gate (:mod:`training.gate`) unless
    ``force``."""
    from stockpilot import tracking

    settings = settings or get_settings()
    with step("loading and validating the dataset"):
        ds = used_tables(load_dataset(data))
        fingerprint = tracking.dataset_fingerprint(ds.tables())
    with step("point-in-time features over history"):
        prepared = prepare(ds)
    masks = split_lines(
        prepared.orders["order_ts"], ~np.isnan(prepared.outcomes["miss"].to_numpy(float))
    )
    require_both_outcomes(prepared.outcomes["miss"].to_numpy(float), masks, tuple(masks))
    set_threads(settings.train_threads)
    with step("fitting LightGBM and the calibration map"):
        scorer = fit(prepared, masks, params, n_jobs=settings.train_threads)
    with step("evaluating on the latest slice (exact SHAP, baselines)"):
        raw = raw_columns(ds)
        evaluation, scores = evaluate(
            scorer, prepared, masks, load_truth(data), raw, settings.train_threads
        )
        del raw
    oracle_p = evaluation.pop("_oracle_p", None)
    evaluation["gate"] = gate.verdict(
        MODEL_NAME,
        evaluation["test"]["auc"],
        {name: b["auc"] for name, b in evaluation["baselines"].items()},
        (evaluation.get("oracle") or {}).get("auc"),
        gate.tolerance_for(MODEL_NAME, settings.policy_file),
    )
    with step("snapshotting the live state for serving"):
        live = RiskState.from_dataset(ds)
    from training import monitoring  # it imports this module

    with step("binning the latest lines as the monitoring reference"):
        reference = monitoring.reference_for(scorer, prepared)

    y_test = prepared.outcomes["miss"].to_numpy(float)[masks["test"]]
    curves = {"model": scores.probability}
    if oracle_p is not None:
        curves["oracle"] = oracle_p
    sample = np.random.default_rng(0).choice(
        len(y_test), size=min(2000, len(y_test)), replace=False
    )
    tags = {
        "dataset_fingerprint": fingerprint,
        "feature_set": FEATURE_SET,
        "feature_set_version": FEATURE_SET_VERSION,
        "code_version": tracking.code_version(),
    }
    # No live progress display here: MLflow draws its own progress bars, and two live
    # displays fight over the terminal (and recurse inside Jupyter).
    console.print("logging to MLflow and registering …", highlight=False)
    with tracking.run(MODEL_NAME, settings, **tags):
        clf = scorer.classifier
        tracking.log_params(
            {
                **clf.get_params(),
                "monotone_constraints": None,
                "n_features": len(scorer.feature_names),
                "n_trees": clf.n_rounds_,
                "split": "/".join(map(str, SPLIT)),
                "embargo_days": EMBARGO_DAYS,
                "aggregation": scorer.aggregation,
                "calibration": clf.calibration_.method,
                "erosion_min_drop": scorer.detector.min_drop,
            }
        )
        tracking.log_metrics(evaluation)
        tracking.log_json(evaluation, "evaluation.json")
        tracking.log_json(feature_set_card(scorer), "feature_set.json")
        tracking.log_json(reference.to_dict(), monitoring.REFERENCE_ARTIFACT)
        tracking.log_figure(ev.calibration_figure(y_test, curves), "plots/calibration.png")
        tracking.log_figure(
            ev.shap_summary_figure(
                scores.contributions[sample], scores.features[sample], scorer.feature_names
            ),
            "plots/shap_summary.png",
        )
        tracking.log_figure(
            ev.family_figure(scores.families[sample], scorer.families), "plots/families.png"
        )
        example = _input_example(prepared.orders, masks["test"])
        free = [name for name in scorer.feature_names if name.startswith("x_")]
        with tempfile.TemporaryDirectory() as tmp:
            from models.order_risk_pyfunc import OrderRiskModel, model_signature, save_artifacts

            artifacts = save_artifacts(scorer, live, Path(tmp))
            info = tracking.log_model(
                OrderRiskModel(),
                model_name=MODEL_NAME,
                artifacts=artifacts,
                input_example=example,
                signature=model_signature(free),
                tags=tags,
                extra_requirements=("numba",),
            )
        evaluation["registered"] = gate.register_gated(
            evaluation, info.model_uri, MODEL_NAME, alias, tags, force
        )
    if report is not None:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(json.dumps(plain(evaluation, unknown="str"), indent=2))
    return evaluation


def feature_set_card(scorer: OrderRiskScorer) -> dict[str, Any]:
    """The feature set as logged: name, version, and per feature its family and constraint."""
    features = scorer.features
    return {
        "name": FEATURE_SET,
        "version": FEATURE_SET_VERSION,
        "features": [
            {"name": n, "family": f, "monotone": m}
            for n, f, m in zip(
                features.feature_names_, features.families_, features.monotone_, strict=True
            )
        ],
        "categories": features.categories_,
        "priors": vars(features.priors_),
    }


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


def _input_example(orders: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """A few test lines in the contract's ``orders`` shape (one whole order)."""
    first = orders.loc[mask, "order_id"].iloc[0]
    example = orders[orders["order_id"] == first].head(5).copy()
    for column in ("order_id", "customer_id", "item_id", "location_id", "carrier_id"):
        if column in example.columns:
            example[column] = example[column].astype(str)
    if "line_no" in example.columns:
        example["line_no"] = example["line_no"].astype("int64")
    return example.reset_index(drop=True)


def set_threads(n: int) -> None:
    """Threads of the explainer's numba kernels (at most what numba was started with)."""
    import numba

    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
