"""Substitution pipeline: load → offer features → time-ordered fit → evaluate → MLflow.

The unit of time is the offer set (one short line): sets are ordered by time and cut
70 / 10 / 20 into train, validation (early stopping and calibration) and test, so no
set is split and nothing later than a prediction is used to make it. History features
are point-in-time. ``truth/`` is read only by :func:`evaluate` (the oracle).

The registered model is the one evaluated (trained on the first 70 %); its history
statistics and candidate lists cover the whole history, as they would in production
where they are refreshed at every retraining.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.dataset import Dataset
from features.substitution import FEATURE_SET_VERSION, SubstitutionFeatures
from features.substitution_context import offer_set_ids, order_context, stock_context
from models.substitution import LINEAR_BASE_MAX_OFFERS, MAX_TREES, AcceptanceModel
from models.substitution_recommender import CandidateIndex, SubstitutionRecommender
from stockpilot.errors import InvalidInput
from stockpilot.jsonable import plain
from stockpilot.progress import step
from stockpilot.settings import Settings, get_settings
from training import gate
from training.monitor_substitution import reference_for
from training.monitoring import REFERENCE_ARTIFACT
from training.splits import groups_by_time_count
from training.substitution_baselines import baseline_scores
from training.substitution_eval import (
    compare,
    expected_calibration_error,
    ranking_metrics,
    reliability_figure,
    shap_summary_figure,
    switch_relevance,
)

MODEL_NAME = "substitution"
SPLIT = (0.7, 0.1, 0.2)  # train, validation, test shares of offer sets, in time order
INPUT_COLUMNS = (
    "customer_id",
    "original_item_id",
    "offered_item_id",
    "ts",
    "location_id",
    "order_id",
    "need_by",
    "qty",
    "available",
    "position",
    "original_unit_price",
    "offered_unit_price",
)


@dataclass
class Prepared:
    """Offers in time order with their context, offer set, split part and features."""

    offers: pd.DataFrame
    groups: np.ndarray
    part: np.ndarray  # 0 train, 1 validation, 2 test
    X: pd.DataFrame
    y: np.ndarray
    loyalty: dict[str, np.ndarray]  # point-in-time purchase loyalty and habit columns


def offer_rows(ds: Dataset, *, labelled_only: bool) -> pd.DataFrame:
    """The substitutions table in time order with the short line's need-by, qty and stock.

    Training and the gate learn from and judge answered offers only (``labelled_only``);
    monitoring keeps the offers whose outcome is not known yet: CBPE scores them too."""
    subs = ds.substitutions
    if subs is None or subs.empty:
        what = "no substitutions table" if subs is None else "an empty substitutions table"
        purpose = "nothing to learn from" if labelled_only else "no offers to monitor"
        raise InvalidInput(f"the dataset has {what}: {purpose}", table="substitutions")
    if labelled_only:
        subs = subs[subs["accepted"].notna()]
    sort_by = ["ts", "position"] if "position" in subs.columns else ["ts"]
    offers = subs.sort_values(sort_by, kind="stable").reset_index(drop=True)
    context = order_context(offers, ds.orders)
    return offers.assign(
        need_by=context["need_by"].to_numpy(),
        qty=context["qty"].to_numpy(),
        order_ts=context["order_ts"].to_numpy(),
        available=stock_context(offers, ds.inventory).to_numpy(),
    )


def split_offer_sets(ts: pd.Series, groups: np.ndarray) -> np.ndarray:
    """Part (0 train, 1 validation, 2 test) of every offer: whole offer sets by count, in
    time order (:func:`training.splits.groups_by_time_count`)."""
    sets = len(np.unique(groups))
    if sets < 10:
        raise InvalidInput(f"need at least 10 offer sets for a time-ordered split, got {sets}")
    return groups_by_time_count(ts, groups, SPLIT)


def fit(
    ds: Dataset,
    *,
    num_threads: int = 1,
    model_params: dict[str, Any] | None = None,
    n_estimators: int = MAX_TREES,
    n_neighbours: int = 30,
    random_state: int = 0,
    linear_base: bool | str = "auto",
) -> tuple[SubstitutionRecommender, Prepared]:
    """Features, time-ordered split, acceptance model and candidate index (no I/O)."""
    offers = offer_rows(ds, labelled_only=True)
    groups = offer_set_ids(offers)
    part = split_offer_sets(offers["ts"], groups)
    features = SubstitutionFeatures().fit(ds.items, offers, ds.customers, ds.orders)
    X = features.transform(offers, point_in_time=True, orders=ds.orders)
    y = offers["accepted"].astype(bool).to_numpy()
    model = AcceptanceModel(
        n_estimators=n_estimators,
        num_threads=num_threads,
        random_state=random_state,
        params=model_params,
        linear_base=linear_base,
    ).fit(
        X[part == 0],
        y[part == 0],
        X_valid=X[part == 1],
        y_valid=y[part == 1],
        categorical_features=features.categorical_features_,
        valid_order=offers.loc[part == 1, "ts"].to_numpy(),
    )
    catalog = features.catalog_
    accepted = offers[y]
    pairs = np.column_stack(
        [catalog.lookup(accepted["original_item_id"]), catalog.lookup(accepted["offered_item_id"])]
    )
    candidates = CandidateIndex(n_neighbours=n_neighbours).fit(catalog, pairs)
    recommender = SubstitutionRecommender(features, model, candidates)
    loyalty = features.loyalty_frame(offers, ds.orders)
    return recommender, Prepared(offers=offers, groups=groups, part=part, X=X, y=y, loyalty=loyalty)


def _candidate_recall(recommender: SubstitutionRecommender, prepared: Prepared) -> dict[str, float]:
    """Share of accepted test offers that candidate generation (history before test) proposes."""
    catalog = recommender.features.catalog_
    offers, y, part = prepared.offers, prepared.y, prepared.part
    before = offers[(part < 2) & y]
    index = CandidateIndex(n_neighbours=recommender.candidates.n_neighbours).fit(
        catalog,
        np.column_stack(
            [catalog.lookup(before["original_item_id"]), catalog.lookup(before["offered_item_id"])]
        ),
    )
    test = offers[(part == 2) & y]
    o = catalog.lookup(test["original_item_id"])
    j = catalog.lookup(test["offered_item_id"])
    found = [oi >= 0 and ji in set(index[oi].tolist()) for oi, ji in zip(o, j, strict=True)]
    sizes = [len(index[k]) for k in range(len(catalog))]
    return {
        "recall_accepted": float(np.mean(found)) if found else float("nan"),
        "mean_candidates": float(np.mean(sizes)) if sizes else 0.0,
    }


def evaluate(
    recommender: SubstitutionRecommender, prepared: Prepared, truth: dict[str, pd.DataFrame]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """evaluation.json content, plus the figures for the MLflow run."""
    test = prepared.part == 2
    offers = prepared.offers[test]
    X = prepared.X[test]
    y = prepared.y[test]
    groups = prepared.groups[test]
    model = recommender.model
    p = model.predict_proba(X)[:, 1]
    baselines, fitted = baseline_scores(recommender, prepared, prepared.loyalty)
    switch = switch_relevance(offers, y)
    oracle = population = None
    if "substitutions" in truth:
        known = offers[["event_id"]].merge(
            truth["substitutions"].astype({"event_id": str}), on="event_id", how="left"
        )
        oracle = known["p_accept"].to_numpy(dtype=float)
        if "p_accept_population" in known.columns:
            population = known["p_accept_population"].to_numpy(dtype=float)
    result = compare(groups, switch, p, baselines, oracle)
    # A world whose customers are seen about once (routes) also writes the reachable
    # oracle: the hidden per-customer taste integrated out (docs/substitution.md).
    result["oracle_population"] = (
        None if population is None else ranking_metrics(groups, switch, population)
    )
    contributions = model.contributions(X.iloc[:2000])
    importance = pd.Series(
        np.abs(contributions[:, :-1]).mean(axis=0), index=model.feature_names_in_
    ).sort_values(ascending=False)
    part_ts = prepared.offers.groupby(prepared.part)["ts"].agg(["min", "max", "size"])
    evaluation: dict[str, Any] = {
        "model": MODEL_NAME,
        "feature_set": FEATURE_SET_VERSION,
        **result,
        "baseline_models": fitted,
        "calibration": {
            "ece": expected_calibration_error(y, p),
            "brier": float(np.mean((p - y) ** 2)),
            "mean_predicted": float(p.mean()),
            "mean_observed": float(y.mean()),
            "n_offers": len(y),
            "method": "monotone map of the margin, fitted on the validation period",
            "map": model.calibration_.report(),
        },
        "candidates": _candidate_recall(recommender, prepared),
        "split": {
            name: {
                "from": str(part_ts.loc[k, "min"]),
                "to": str(part_ts.loc[k, "max"]),
                "offers": int(part_ts.loc[k, "size"]),
            }
            for k, name in enumerate(("train", "validation", "test"))
            if k in part_ts.index
        },
        "ranking_events": (
            "switch occasions: test offer sets with at least one accepted offer of an item "
            "other than the original"
        ),
        "best_iteration": model.best_iteration_,
        "linear_base": {
            "used": getattr(model, "linear_", None) is not None,
            "training_offers": int((prepared.part == 0).sum()),
            "max_offers": LINEAR_BASE_MAX_OFFERS,
        },
        "shap_mean_abs": {k: float(v) for k, v in importance.head(15).items()},
    }
    figures = {
        "calibration.png": reliability_figure(p, y),
        "shap_summary.png": shap_summary_figure(importance),
    }
    return evaluation, figures


def gate_oracle(evaluation: dict[str, Any]) -> tuple[str | None, float | None]:
    """The oracle the gate compares with: the reachable (population) one when the truth has
    it, else the one that knows every customer's hidden taste; ``None`` on real data."""
    for kind, key in (("population", "oracle_population"), ("hidden taste", "oracle")):
        block = evaluation.get(key)
        if block is not None:
            return kind, block["hit@1_switch"]
    return None, None


def input_example(prepared: Prepared) -> pd.DataFrame:
    """A few test candidate pairs in the pyfunc input shape (complete rows preferred)."""
    cols = [c for c in INPUT_COLUMNS if c in prepared.offers.columns]
    cols += [c for c in prepared.offers.columns if str(c).startswith("x_")]
    frame = prepared.offers.loc[prepared.part == 2, cols]
    # Numbers as float64, as the signature declares them (an export may hold nullable Int64).
    numeric = [
        c
        for c in frame.columns
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]
    frame = frame.astype({c: "float64" for c in numeric})
    complete = frame.dropna()
    return (complete if len(complete) >= 5 else frame).head(5).reset_index(drop=True)


def train(
    data: Path | str,
    report: Path | None = None,
    alias: str | None = "champion",
    *,
    settings: Settings | None = None,
    model_params: dict[str, Any] | None = None,
    n_estimators: int = MAX_TREES,
    force: bool = False,
    linear_base: bool | str = "auto",
) -> dict[str, Any]:
    """Train, evaluate, log to MLflow and register ``substitution``; returns the evaluation.

    ``alias="champion"`` is only set past the champion gate (:mod:`training.gate`) unless
    ``force``."""
    from models.substitution_pyfunc import SubstitutionModel, save_recommender, signature
    from stockpilot import tracking
    from stockpilot.data import load_dataset, load_truth

    settings = settings or get_settings()
    with step("loading dataset"):
        ds = load_dataset(data)
    with step("training the substitution model"):
        recommender, prepared = fit(
            ds,
            num_threads=settings.train_threads,
            model_params=model_params,
            n_estimators=n_estimators,
            linear_base=linear_base,
        )
    # Serving predicts one request at a time: single-threaded LightGBM is fastest there.
    recommender.model.num_threads = settings.lgbm_threads
    with step("evaluating"):
        evaluation, figures = evaluate(recommender, prepared, load_truth(data))
    with step("binning the latest offers as the monitoring reference"):
        reference = reference_for(prepared.X, prepared.offers["ts"])
    oracle_kind, oracle = gate_oracle(evaluation)
    evaluation["gate"] = gate.verdict(
        MODEL_NAME,
        evaluation["test"]["hit@1_switch"],
        {name: b["hit@1_switch"] for name, b in evaluation["baselines"].items()},
        oracle,
        gate.tolerance_for(MODEL_NAME, settings.policy_file),
    )
    evaluation["gate"]["oracle_kind"] = oracle_kind
    used = {k: v for k, v in ds.tables().items() if k in ("items", "customers", "substitutions")}
    tags = {
        "dataset_fingerprint": tracking.dataset_fingerprint(used),
        "feature_set_version": FEATURE_SET_VERSION,
        "code_version": tracking.code_version(),
    }
    with step("logging to MLflow"), tracking.run(MODEL_NAME, settings, **tags):
        tracking.log_params(
            {
                "split": "/".join(map(str, SPLIT)),
                "n_features": len(recommender.features.feature_names_in_),
                "n_neighbours": recommender.candidates.n_neighbours,
                "best_iteration": recommender.model.best_iteration_,
                "linear_base": recommender.model.linear_ is not None,
                "calibration_method": recommender.model.calibration_.method,
                "calibration_slope": recommender.model.calibration_slope_,
                "calibration_intercept": recommender.model.calibration_intercept_,
                **{f"lgbm.{k}": v for k, v in (model_params or {}).items()},
            }
        )
        tracking.log_metrics({k: evaluation[k] for k in ("test", "baselines", "calibration")})
        for key in ("oracle", "oracle_population"):
            if evaluation.get(key) is not None:
                tracking.log_metrics({key: evaluation[key]})
        for name, figure in figures.items():
            tracking.log_figure(figure, name)
        tracking.log_json(reference.to_dict(), REFERENCE_ARTIFACT)
        with tempfile.TemporaryDirectory() as tmp:
            artifact = save_recommender(recommender, Path(tmp) / "recommender.pkl")
            info = tracking.log_model(
                SubstitutionModel(),
                model_name=MODEL_NAME,
                artifacts={"recommender": str(artifact)},
                input_example=input_example(prepared),
                signature=signature(recommender),
                tags=tags,
            )
        evaluation["registered"] = gate.register_gated(
            evaluation, info.model_uri, MODEL_NAME, alias, tags, force
        )
        tracking.log_json(evaluation, "evaluation.json")
    if report is not None:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(json.dumps(plain(evaluation, unknown="str"), indent=2))
    return evaluation
