"""Acceptance model: a LightGBM classifier with Platt calibration and exact SHAP reasons.

A classifier rather than a ranker because serving needs a *probability* the customer
accepts (policy thresholds auto-offer above one), and ranking by that probability is
what a rep does anyway. Calibration is the order-risk model's monotone map
(:mod:`models.calibration`), fitted on a later, held-out slice of time: a sigmoid with a
positive slope, so it never reorders candidates (isotonic regression would create ties
inside an offer set), and it corrects the drift between the training period and the
recent one. When that slice disagrees with the trees (Platt slope ≤ 0, or Platt worse out
of sample) the map falls back to an intercept shift, and ``calibration_`` says why. SHAP
contributions are LightGBM's exact TreeSHAP in margin space (``pred_contrib``); they sum
to the raw margin, and ``slope · contribution`` to the calibrated log-odds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.calibration import Calibration, fit_calibration
from models.substitution_linear import DEFAULT_C, LinearBase
from stockpilot.errors import InvalidInput

# Exact TreeSHAP costs O(leaves · depth²) per tree and row, and the request path explains
# every returned candidate, so the tree count is a latency budget: on the large catalogue
# early stopping was still improving at 1 000 rounds (SHAP of 5 rows alone 3.7 ms); 400 trees at
# learning rate 0.15 rank as well on medium seed 7 (NDCG@5 within ±0.002) at 1.5 ms.
MAX_TREES = 400
# The linear base (models.substitution_linear) is used when the training offers are fewer than
# this: where the trees are data-starved (routes, ~12 k training offers: hit@1 on switch
# occasions 0.698 → 0.738 and 0.672 → 0.717 on medium seeds 7 / 11) and not where they are
# not (loyalty, ~46 k: 0.707 → 0.699 and 0.674 → 0.678; standard and drift, ~93 k: within
# ±0.003). A validation-slice choice was tried and is no guide: on ~190 validation switch
# occasions it preferred the trees alone on routes seed 7 (docs/substitution.md).
LINEAR_BASE_MAX_OFFERS = 30_000

DEFAULT_PARAMS: dict[str, float | int | str] = {
    "objective": "binary",
    "learning_rate": 0.15,
    # Shallow trees for the same reason: depth 3, at most 8 leaves.
    "max_depth": 3,
    "num_leaves": 8,
    "min_data_in_leaf": 80,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 5.0,
    "max_cat_to_onehot": 8,
    "verbosity": -1,
}


@dataclass(frozen=True)
class Reason:
    """One SHAP contribution turned into words; ``contribution`` is in log-odds."""

    feature: str
    value: float | None
    contribution: float
    text: str


class AcceptanceModel:
    """P(customer accepts the offered substitute), scikit-learn style.

    Parameters are stored untouched; ``fit`` validates and learns ``booster_``,
    ``calibration_`` (the monotone map and the evidence for it), ``calibration_slope_`` and
    ``calibration_intercept_`` (on the raw margin, slope > 0), ``feature_names_in_`` and
    ``best_iteration_``.
    """

    def __init__(
        self,
        n_estimators: int = MAX_TREES,
        early_stopping_rounds: int = 100,
        num_threads: int = 1,
        random_state: int = 0,
        params: dict[str, float | int | str] | None = None,
        linear_base: bool | str = "auto",
        linear_C: float = DEFAULT_C,
    ) -> None:
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.num_threads = num_threads
        self.random_state = random_state
        self.params = params
        self.linear_base = linear_base
        self.linear_C = linear_C

    def fit(
        self,
        X: pd.DataFrame,
        y: Sequence[bool] | np.ndarray,
        *,
        X_valid: pd.DataFrame,
        y_valid: Sequence[bool] | np.ndarray,
        categorical_features: Sequence[str] = (),
        valid_order: np.ndarray | None = None,
    ) -> AcceptanceModel:
        """Trees on ``(X, y)`` with early stopping on the later ``(X_valid, y_valid)``, which
        also fits the calibration map; ``valid_order`` (the validation offers' times) orders
        the map's out-of-sample check, else the rows are taken to be in time order."""
        if self.n_estimators < 1:
            raise ValueError(f"n_estimators must be >= 1, got {self.n_estimators}")
        if self.num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {self.num_threads}")
        if list(X.columns) != list(X_valid.columns):
            raise ValueError("X and X_valid must have the same columns in the same order")
        unknown = set(categorical_features) - set(X.columns)
        if unknown:
            raise ValueError(f"categorical_features not in X: {sorted(unknown)}")
        y_fit = np.asarray(y, dtype=float)
        y_val = np.asarray(y_valid, dtype=float)
        if len(np.unique(y_fit)) < 2 or len(np.unique(y_val)) < 2:
            raise InvalidInput(
                "need both accepted and rejected offers to learn acceptance: "
                f"{int(y_fit.sum())} of the {len(y_fit)} training offers and "
                f"{int(y_val.sum())} of the {len(y_val)} validation offers were accepted"
            )
        self.feature_names_in_ = list(map(str, X.columns))
        self.categorical_features_ = list(categorical_features)
        params = {
            **DEFAULT_PARAMS,
            **(self.params or {}),
            "num_threads": self.num_threads,
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
        }
        A, A_valid = X.to_numpy(dtype=float), X_valid.to_numpy(dtype=float)
        self.linear_: LinearBase | None = None
        init = init_valid = None
        if self.linear_base not in (True, False, "auto"):
            raise ValueError(f"linear_base must be True, False or 'auto', got {self.linear_base!r}")
        use_linear = (
            len(y_fit) < LINEAR_BASE_MAX_OFFERS if self.linear_base == "auto" else self.linear_base
        )
        if use_linear:
            self.linear_ = LinearBase(C=self.linear_C).fit(
                A, y_fit, self.feature_names_in_, self.categorical_features_
            )
            init = self.linear_.decision_function(A)
            init_valid = self.linear_.decision_function(A_valid)
        train_set = lgb.Dataset(
            A,
            y_fit,
            init_score=init,
            feature_name=self.feature_names_in_,
            categorical_feature=self.categorical_features_ or "auto",
            free_raw_data=True,
        )
        valid_set = lgb.Dataset(A_valid, y_val, init_score=init_valid, reference=train_set)
        self.booster_ = lgb.train(
            params,
            train_set,
            num_boost_round=self.n_estimators,
            valid_sets=[valid_set],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        self.best_iteration_ = int(self.booster_.best_iteration or self.n_estimators)
        self.booster_ = lgb.Booster(
            model_str=self.booster_.model_to_string(num_iteration=self.best_iteration_)
        )
        margin = self._margin(A_valid)
        self.calibration_: Calibration = fit_calibration(margin, y_val, valid_order)
        self.calibration_slope_ = self.calibration_.slope
        self.calibration_intercept_ = self.calibration_.intercept
        return self

    def _check(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            if list(map(str, X.columns)) != self.feature_names_in_:
                raise ValueError(
                    "X has columns different from those seen in fit: "
                    f"expected {self.feature_names_in_}, got {list(X.columns)}"
                )
            X = X.to_numpy(dtype=float)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names_in_):
            raise ValueError(f"X must have {len(self.feature_names_in_)} columns, got {X.shape}")
        return X

    def _margin(self, X: np.ndarray) -> np.ndarray:
        trees = np.asarray(
            self.booster_.predict(X, raw_score=True, num_threads=self.num_threads), dtype=float
        )
        linear = getattr(self, "linear_", None)  # None: no linear base (or pickled before it)
        return trees if linear is None else trees + linear.decision_function(X)

    def decision_function(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """Raw (uncalibrated) log-odds margin: the linear base's score plus the trees'."""
        return self._margin(self._check(X))

    def calibrate(self, margin: np.ndarray) -> np.ndarray:
        """The calibrated probability of a raw margin (strictly increasing: slope > 0)."""
        if isinstance(self.calibration_, tuple):  # pickled before models.calibration
            slope, intercept = self.calibration_
        else:
            slope, intercept = self.calibration_slope_, self.calibration_intercept_
        return 1.0 / (1.0 + np.exp(-(slope * np.asarray(margin) + intercept)))

    def predict_proba(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """Calibrated acceptance probability as ``(n, 2)`` like scikit-learn classifiers."""
        p = self.calibrate(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def contributions(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        """Exact SHAP values per feature plus the bias column; rows sum to the raw margin.

        With the linear base, a feature's value is its TreeSHAP plus its exact linear
        contribution (``models.substitution_linear``), and the bias holds both constants."""
        X = self._check(X)
        out = self.booster_.predict(X, pred_contrib=True, num_threads=self.num_threads)
        out = np.asarray(out, dtype=float)
        linear = getattr(self, "linear_", None)
        return out if linear is None else out + linear.contributions(X)

    def feature_importance(self) -> pd.Series:
        gain = self.booster_.feature_importance(importance_type="gain")
        return pd.Series(gain, index=self.feature_names_in_).sort_values(ascending=False)
