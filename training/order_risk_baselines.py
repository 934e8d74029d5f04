"""Order-risk baselines a strong data scientist would fit in an afternoon on the raw export.

The model has to beat these on the same time-ordered split (``training/gate.py``), so
they get no help from our engineered point-in-time state — only what is in the order
row and the master data joined to it:

- ``tabular``: LightGBM with native categoricals (location, carrier, ship method,
  customer, segment / tier / region, item, category, brand, supplier, priority and every
  ``x_*`` column) and the row's numbers (lead time, requested lead time, quantity, unit
  price, discount, numeric ``x_*``). Sensible parameters, categorical smoothing, early
  stopping on the latest part of the training slice, then a refit on all of it with the
  chosen number of rounds: the baseline to fear;
- ``logistic``: logistic regression on one-hot codes of the frequent levels of the same
  categoricals and the standardised numbers.

Every input is optional beyond the contract's required columns: a minimal export gives
fewer columns, never an error.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.dataset import Dataset

ORDER_CATEGORICALS = (
    "location_id",
    "carrier_id",
    "ship_method",
    "customer_id",
    "item_id",
    "priority",
)
MASTER_CATEGORICALS = {
    "items": ("item_id", ("category", "brand", "supplier_id")),
    "customers": ("customer_id", ("segment", "tier", "region")),
}
VALIDATION_SHARE = 0.15  # latest share of the training slice used for early stopping
LOGISTIC_MAX_ROWS = 300_000
ONE_HOT_LEVELS = 30  # most frequent levels per categorical; the rest share one column
TABULAR_PARAMS = {
    "objective": "binary",
    "learning_rate": 0.08,
    "num_leaves": 31,
    "min_child_samples": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 10.0,
    "cat_l2": 10.0,
    "min_data_per_group": 50,
    "max_cat_threshold": 32,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
MAX_ROUNDS = 1500
MAX_LEVELS = 1000
MIN_LEVEL_LINES = 20
EARLY_STOPPING_ROUNDS = 50


def raw_columns(ds: Dataset) -> pd.DataFrame:
    """Order-line columns as exported, plus the master attributes joined to each line.

    Aligned with ``ds.orders`` (positional). Lead times are days from the order's time
    to the promised / requested date.
    """
    orders = ds.orders.reset_index(drop=True)
    frame = pd.DataFrame(index=orders.index)
    for name in ORDER_CATEGORICALS:
        if name in orders.columns:
            frame[name] = _text(orders[name])
    for table, (key, columns) in MASTER_CATEGORICALS.items():
        master = getattr(ds, table)
        present = [c for c in columns if master is not None and c in master.columns]
        if not present:
            continue
        lookup = master.drop_duplicates(key).set_index(master[key].astype(str))
        ids = orders[key].astype(str)
        for column in present:
            frame[f"{table}.{column}"] = _text(ids.map(lookup[column]))
    ts = orders["order_ts"]
    day = pd.Timedelta(days=1)
    frame["lead_days"] = (orders["promised_date"] - ts) / day
    if "requested_date" in orders.columns:
        frame["requested_lead_days"] = (orders["requested_date"] - ts) / day
    frame["qty"] = orders["qty"].astype(float)
    frame["unit_price"] = orders["unit_price"].astype(float)
    if "discount_pct" in orders.columns:
        frame["discount_pct"] = orders["discount_pct"].astype(float)
    for name in orders.columns:
        if str(name).startswith("x_"):
            column = orders[name]
            if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
                frame[name] = column.astype(float)
            else:
                frame[name] = _text(column)
    return frame


def categorical_columns(frame: pd.DataFrame) -> list[str]:
    """The text columns of a :func:`raw_columns` frame (the others are numbers)."""
    return [c for c in frame.columns if frame[c].dtype == object]


def _text(values: pd.Series) -> pd.Series:
    return (
        values.astype(object)
        .where(values.notna(), None)
        .map(lambda v: None if v is None else str(v))
    )


def _time_tail(order_ts: np.ndarray, share: float) -> np.ndarray:
    """Mask of the latest ``share`` of rows by time (at least one row on each side)."""
    ranks = np.argsort(np.argsort(order_ts, kind="stable"), kind="stable")
    cut = min(max(round(len(ranks) * (1.0 - share)), 1), len(ranks) - 1)
    return ranks >= cut


class TabularBaseline:
    """LightGBM with native categoricals on :func:`raw_columns` (see the module doc)."""

    def __init__(self, n_jobs: int = 1, random_state: int = 0) -> None:
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: np.ndarray, order_ts: np.ndarray) -> TabularBaseline:
        """Fit on the rows of ``X`` (a :func:`raw_columns` frame) ordered by ``order_ts``."""
        y = np.asarray(y, dtype=float)
        if len(y) != len(X) or len(np.unique(y)) < 2:
            raise ValueError("y must have one 0/1 label per row, with both classes present")
        self.categorical_ = categorical_columns(X)
        self.columns_ = list(X.columns)
        self.levels_ = {c: _levels(X[c]) for c in self.categorical_}
        X = self._frame(X)
        params = {**TABULAR_PARAMS, "num_threads": self.n_jobs, "seed": self.random_state}
        rounds = MAX_ROUNDS
        tail = _time_tail(np.asarray(order_ts), VALIDATION_SHARE)
        if len(np.unique(y[~tail])) == 2 and len(np.unique(y[tail])) == 2:
            train = self._dataset(X[~tail], y[~tail])
            valid = self._dataset(X[tail], y[tail], reference=train)
            early = lgb.train(
                params,
                train,
                num_boost_round=MAX_ROUNDS,
                valid_sets=[valid],
                callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
            )
            rounds = max(early.best_iteration, 1)
        self.n_rounds_ = rounds
        self.booster_ = lgb.train(params, self._dataset(X, y), num_boost_round=rounds)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """P(miss) per row of ``X`` (the columns seen in ``fit``)."""
        return self.booster_.predict(self._frame(X))

    def _frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        X = pd.DataFrame(index=frame.index)
        for column in self.columns_:
            if column in self.levels_:
                X[column] = pd.Categorical(frame[column], categories=self.levels_[column])
            else:
                X[column] = frame[column].astype(float)
        return X

    def _dataset(
        self, X: pd.DataFrame, y: np.ndarray, reference: lgb.Dataset | None = None
    ) -> lgb.Dataset:
        return lgb.Dataset(
            X, y, categorical_feature=self.categorical_, reference=reference, free_raw_data=True
        )


def _levels(values: pd.Series) -> list[str]:
    """Levels kept as categories: the :data:`MAX_LEVELS` most frequent seen in training at
    least :data:`MIN_LEVEL_LINES` times. Rarer and unseen ones are missing — a level
    with a handful of lines cannot be learned, and thousands of them (customer ids of a
    large export) make each boosting round slow."""
    counts = values.dropna().value_counts()
    counts = counts[counts >= MIN_LEVEL_LINES].head(MAX_LEVELS)
    return counts.index.astype(str).tolist()


def logistic_baseline(
    X_train: pd.DataFrame, y_train: np.ndarray, X_test: pd.DataFrame, random_state: int = 0
) -> np.ndarray:
    """P(miss) of the ``X_test`` rows by a logistic regression fitted on ``X_train``.

    One-hot codes of the :data:`ONE_HOT_LEVELS` most frequent levels of each categorical
    (rarer and unseen ones share an "infrequent" column), median-imputed standardised
    numbers with quantity and price on a log scale. At most :data:`LOGISTIC_MAX_ROWS`
    training rows (a seeded sample): a linear model does not need more.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    y = np.asarray(y_train, dtype=float)
    if len(X_train) > LOGISTIC_MAX_ROWS:
        rng = np.random.default_rng(random_state)
        pick = np.sort(rng.choice(len(X_train), LOGISTIC_MAX_ROWS, replace=False))
        X_train, y = X_train.iloc[pick], y[pick]
    categorical = categorical_columns(X_train)
    numeric = [c for c in X_train.columns if c not in categorical]
    parts = []
    if categorical:
        parts.append(
            (
                "onehot",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist", max_categories=ONE_HOT_LEVELS + 1
                ),
                categorical,
            )
        )
    parts.append(
        (
            "numbers",
            make_pipeline(
                SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()
            ),
            numeric,
        )
    )
    model = make_pipeline(
        ColumnTransformer(parts),
        LogisticRegression(max_iter=2000, random_state=random_state),
    )
    model.fit(_logistic_frame(X_train, categorical), y)
    return model.predict_proba(_logistic_frame(X_test, categorical))[:, 1]


def _logistic_frame(frame: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    frame = frame.copy()
    for column in frame.columns:
        if column in categorical:
            frame[column] = frame[column].fillna("(missing)").astype(str)
        else:
            values = frame[column].astype(float)
            if column in ("qty", "unit_price"):
                values = np.log1p(values.clip(lower=0))
            frame[column] = values.clip(-1e6, 1e6)
    return frame
