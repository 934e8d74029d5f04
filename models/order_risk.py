"""Order-risk estimators: the calibrated LightGBM classifier and the margin-erosion detector.

:class:`OrderRiskClassifier` learns P(line misses its commitment). LightGBM gives a raw
margin (log-odds); a monotone map ``p = σ(a·margin + b)`` with ``a > 0``, fitted on a
*later* time slice (:mod:`models.calibration`: Platt scaling, or a safe intercept shift
when the later slice disagrees), corrects the drift between training and now without
touching the ranking (it is strictly increasing, so monotone constraints still hold for
the probability). SHAP
values explain the raw margin: ``expected_value + Σ contributions = margin``, and the
calibrated log-odds is ``a·margin + b`` — the contributions scaled by ``a`` are
therefore exact contributions to the calibrated log-odds as well.

:class:`MarginErosionDetector` is deliberately not learned from outcomes: margin
erosion is rare, labels for it seldom exist, and a reviewer must be able to read the
rule. It compares the line's price level (price / list price) with what this
customer paid for the item (or, with too little history, the category) before, and
flags prices below cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from models.calibration import Calibration, fit_calibration
from models.treeshap import TreeTables, compile_booster


@dataclass
class Explanation:
    """Exact SHAP values of the raw margin for a batch of lines."""

    contributions: np.ndarray  # (n, n_features), log-odds
    expected_value: float
    margin: np.ndarray  # (n,) raw log-odds = expected_value + contributions.sum(1)
    probability: np.ndarray  # (n,) calibrated


class OrderRiskClassifier(ClassifierMixin, BaseEstimator):
    """LightGBM binary classifier with monotone constraints, monotone calibration, exact SHAP.

    Small trees by default: explained scoring costs grow with trees × leaves, and on
    this problem accuracy saturates early (see ``benchmarks/order_risk.py``).

    ``early_stopping_share`` > 0 makes ``n_estimators`` a cap: the number of trees is
    chosen on the latest share of the training rows (by ``train_order``), stopping after
    ``early_stopping_rounds`` rounds without a better log loss, and the trees are then
    refit on all training rows. Small exports overfit a fixed 100 trees; large ones stop
    near the cap (fewer trees also explain faster).
    """

    def __init__(
        self,
        n_estimators: int = 100,
        num_leaves: int = 7,
        max_depth: int = 6,
        learning_rate: float = 0.1,
        min_child_samples: int = 100,
        subsample: float = 0.8,
        colsample_bytree: float = 0.9,
        reg_lambda: float = 1.0,
        early_stopping_share: float = 0.0,
        early_stopping_rounds: int = 20,
        monotone_constraints: Sequence[int] | None = None,
        n_jobs: int = 1,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.early_stopping_share = early_stopping_share
        self.early_stopping_rounds = early_stopping_rounds
        self.monotone_constraints = monotone_constraints
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _params(self) -> dict:
        if self.max_depth < 1 or self.max_depth > 10:
            raise ValueError(
                f"max_depth must be in 1..10 (explanation tables), got {self.max_depth}"
            )
        if self.n_estimators < 1:
            raise ValueError(f"n_estimators must be >= 1, got {self.n_estimators}")
        params = {
            "objective": "binary",
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "min_child_samples": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample_bytree,
            "lambda_l2": self.reg_lambda,
            "num_threads": self.n_jobs,
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }
        if self.monotone_constraints is not None:
            params["monotone_constraints"] = list(self.monotone_constraints)
        return params

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        X_calib: np.ndarray,
        y_calib: np.ndarray,
        feature_names: Sequence[str] | None = None,
        calib_order: np.ndarray | None = None,
        train_order: np.ndarray | None = None,
    ) -> OrderRiskClassifier:
        """Fit trees on ``(X, y)``, then the calibration map on the later ``(X_calib, y_calib)``.

        ``calib_order`` (the calibration rows' times) orders the map's out-of-sample
        check, ``train_order`` (the training rows' times) picks the early-stopping rows;
        without them the rows are taken to be in time order.
        """
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError(f"X must be (n, p) with n == len(y); got {X.shape} and {len(y)}")
        if set(np.unique(y)) - {0.0, 1.0}:
            raise ValueError("y must be 0/1")
        names = (
            list(feature_names)
            if feature_names is not None
            else [f"f{k}" for k in range(X.shape[1])]
        )
        if len(names) != X.shape[1]:
            raise ValueError(f"feature_names has {len(names)} names for {X.shape[1]} columns")
        if self.monotone_constraints is not None and len(self.monotone_constraints) != X.shape[1]:
            raise ValueError("monotone_constraints must have one entry per feature")
        self.n_rounds_ = self._rounds(X, y, train_order)
        data = lgb.Dataset(X, y, feature_name=names, free_raw_data=True)
        self.booster_ = lgb.train(self._params(), data, num_boost_round=self.n_rounds_)
        self.trees_: TreeTables = compile_booster(self.booster_)
        self.feature_names_in_ = np.array(names, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.classes_ = np.array([0, 1])
        margin = self.trees_.margin(np.asarray(X_calib, dtype=float))
        self.calibration_: Calibration = fit_calibration(margin, y_calib, calib_order)
        self.calibration_slope_ = self.calibration_.slope
        self.calibration_intercept_ = self.calibration_.intercept
        return self

    def _rounds(self, X: np.ndarray, y: np.ndarray, order: np.ndarray | None) -> int:
        """Trees to fit: ``n_estimators``, or fewer when early stopping finds them enough."""
        if not 0.0 < self.early_stopping_share < 1.0:
            return self.n_estimators
        ranked = np.argsort(order, kind="stable") if order is not None else np.arange(len(y))
        tail = np.zeros(len(y), dtype=bool)
        tail[ranked[int(len(y) * (1.0 - self.early_stopping_share)) :]] = True
        if len(np.unique(y[tail])) < 2 or len(np.unique(y[~tail])) < 2:
            return self.n_estimators  # nothing to stop on: one class in a part
        fit = lgb.Dataset(X[~tail], y[~tail], free_raw_data=True)
        held = lgb.Dataset(X[tail], y[tail], reference=fit, free_raw_data=True)
        probe = lgb.train(
            {**self._params(), "metric": "binary_logloss"},
            fit,
            num_boost_round=self.n_estimators,
            valid_sets=[held],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        return max(int(probe.best_iteration or self.n_estimators), 1)

    def calibrate(self, margin: np.ndarray) -> np.ndarray:
        """The calibrated probability of a raw margin (strictly increasing: slope > 0)."""
        z = self.calibration_slope_ * np.asarray(margin) + self.calibration_intercept_
        return 1.0 / (1.0 + np.exp(-z))

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.trees_.margin(X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = self.calibrate(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def explain(self, X: np.ndarray, parallel: bool = False) -> Explanation:
        phi, margin = self.trees_.shap_values(X, parallel=parallel)
        return Explanation(phi, self.trees_.expected_value, margin, self.calibrate(margin))


# --- margin erosion ----------------------------------------------------------------------

BELOW_COST = "below_cost"
PRICE_MISMATCH = "price_mismatch"
PRICE_DROP = "price_drop"
DISCOUNT_JUMP = "discount_jump"
EROSION_KINDS = (BELOW_COST, PRICE_MISMATCH, PRICE_DROP, DISCOUNT_JUMP)


_KIND_NAMES = np.array([*EROSION_KINDS, ""])


@dataclass
class ErosionResult:
    flag: np.ndarray  # bool
    kind: np.ndarray  # "" or one of EROSION_KINDS (the first that applies, in that order)
    drop: np.ndarray  # share below the customer's usual price level (NaN: no history)
    basis: np.ndarray  # what "usual" was taken from: "item", "category" or ""
    mismatch: np.ndarray  # share below list price less the recorded discount (NaN: unknown)
    discount_jump: np.ndarray  # discount points above the customer's usual (NaN: unknown)
    margin: np.ndarray  # (price − cost) / price (NaN: no cost)


class MarginErosionDetector(BaseEstimator):
    """Flags lines whose price erodes margin in a way this customer's history does not explain.

    A line is flagged when its price level (price / list price) is at least
    ``min_drop`` below what this customer usually pays for the item — or, with fewer
    than ``min_history`` earlier priced lines, for the category (``price_drop``); when
    the price is ``min_drop`` below list price less the recorded discount, i.e. the
    recorded terms do not explain it (``price_mismatch``); when the discount is
    ``100 × min_drop`` points above the customer's usual (``discount_jump``); or when it
    is below cost *and* at least ``min_drop / 2`` below what the recorded discount
    implies (``below_cost``). A below-cost price that the recorded terms explain (a
    loss-leading promotion, a contract price) is a pricing decision, not erosion: the
    model still sees the margin as a feature, but it is not flagged.
    """

    def __init__(self, min_drop: float = 0.2, min_history: int = 2) -> None:
        self.min_drop = min_drop
        self.min_history = min_history

    def fit(self, features: Mapping[str, np.ndarray] | None = None) -> MarginErosionDetector:
        """Validates the parameters; nothing is learned from outcomes (see the module doc)."""
        if not 0 < self.min_drop < 1:
            raise ValueError(f"min_drop must be in (0, 1), got {self.min_drop}")
        if self.min_history < 1:
            raise ValueError(f"min_history must be >= 1, got {self.min_history}")
        self.fitted_ = True
        return self

    def detect(
        self, features: Mapping[str, np.ndarray], state: Mapping[str, np.ndarray]
    ) -> ErosionResult:
        """``features``: derived order-risk features; ``state``: the state values (counts)."""
        n = len(next(iter(features.values())))
        nan = np.full(n, np.nan)
        zeros = np.zeros(n)

        def history(name: str) -> np.ndarray:
            return np.asarray(state.get(name, zeros)) >= self.min_history

        item_ok, cat_ok = history("ci_pi_n"), history("cc_pi_n")
        deviation = np.where(
            item_ok,
            features.get("price_vs_item_usual", nan),
            np.where(cat_ok, features.get("price_vs_category_usual", nan), np.nan),
        )
        drop = -np.expm1(deviation)
        mismatch = -np.expm1(np.asarray(features.get("price_vs_recorded_discount", nan)))
        jump = np.where(history("cust_disc_n"), features.get("discount_vs_usual", nan), np.nan)
        margin = np.asarray(features.get("margin_pct", nan), dtype=float)
        with np.errstate(invalid="ignore"):
            half = self.min_drop / 2
            below = (margin < 0) & (mismatch >= half)
            # The first test that holds names the kind (np.select's rule), by index.
            tests = np.array(
                [
                    below,
                    mismatch >= self.min_drop,
                    drop >= self.min_drop,
                    jump >= 100 * self.min_drop,
                    np.ones(n, dtype=bool),
                ]
            )
            kind = _KIND_NAMES[np.argmax(tests, axis=0)]
        return ErosionResult(
            flag=kind != "",
            kind=kind,
            drop=drop,
            basis=np.where(item_ok, "item", np.where(cat_ok, "category", "")),
            mismatch=mismatch,
            discount_jump=jump,
            margin=margin,
        )
