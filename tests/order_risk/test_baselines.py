"""The order-risk baselines: raw order columns only, strong, and fine on a minimal export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features.dataset import Dataset
from tests.order_risk.test_missing_optional import VARIANTS, without
from training import order_risk_baselines as rb
from training import order_risk_eval as ev
from training.order_risk import prepare, split_lines


def route_world(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Misses driven by one route (location × carrier) and one vendor, nothing else.

    Returns the frame, the labels and the true log-odds (the oracle's ranking).
    """
    rng = np.random.default_rng(seed)
    loc = rng.choice(["DAL", "ATL", "CHI"], n)
    carrier = rng.choice(["CR1", "CR2", "CR3"], n)
    vendor = rng.choice([f"V{k}" for k in range(12)], n)
    frame = pd.DataFrame(
        {
            "location_id": loc,
            "carrier_id": carrier,
            "x_vendor": vendor,
            "lead_days": rng.uniform(1, 8, n),
            "qty": rng.integers(1, 50, n).astype(float),
        }
    ).astype({"location_id": object, "carrier_id": object, "x_vendor": object})
    logit = -2.5 + 2.5 * ((loc == "DAL") & (carrier == "CR2")) + 1.5 * (vendor == "V3")
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(float)
    return frame, y, logit


def test_tabular_finds_a_route_and_a_vendor_in_text_columns():
    X, y, _ = route_world(6000, 0)
    X_test, y_test, oracle = route_world(3000, 1)
    model = rb.TabularBaseline().fit(X, y, np.arange(len(y)))
    assert model.categorical_ == ["location_id", "carrier_id", "x_vendor"]
    assert 1 <= model.n_rounds_ <= rb.MAX_ROUNDS
    p = model.predict_proba(X_test)
    best = roc_auc_score(y_test, oracle)
    assert roc_auc_score(y_test, p) > best - 0.02 and best > 0.65
    unseen = X_test.head(5).assign(x_vendor="NEW", location_id=None)
    assert np.isfinite(model.predict_proba(unseen)).all()
    q = rb.logistic_baseline(X, y, X_test)
    assert roc_auc_score(y_test, q) > 0.6 and ((q > 0) & (q < 1)).all()


def test_logistic_samples_large_training_sets(monkeypatch: pytest.MonkeyPatch):
    X, y, _ = route_world(3000, 2)
    monkeypatch.setattr(rb, "LOGISTIC_MAX_ROWS", 500)
    p = rb.logistic_baseline(X, y, X.head(50))
    assert p.shape == (50,) and ((p > 0) & (p < 1)).all()


def test_raw_columns_join_the_master_and_keep_x_columns(small_ds: Dataset):
    raw = rb.raw_columns(small_ds)
    assert len(raw) == len(small_ds.orders)
    assert {"location_id", "item_id", "items.category", "customers.region", "lead_days"} <= set(
        raw.columns
    )
    assert all(c in raw.columns for c in small_ds.orders.columns if c.startswith("x_"))
    first = small_ds.orders.iloc[0]
    expected = (first["promised_date"] - first["order_ts"]) / pd.Timedelta(days=1)
    assert raw["lead_days"].iloc[0] == pytest.approx(expected)
    category = small_ds.items.set_index("item_id").loc[first["item_id"], "category"]
    assert raw["items.category"].iloc[0] == category


@pytest.mark.parametrize("variant", ["everything optional missing", "bare master data"])
def test_every_baseline_runs_on_a_minimal_export(small_ds: Dataset, variant: str):
    ds = without(small_ds, **VARIANTS[variant])
    prepared = prepare(ds)
    y = prepared.outcomes["miss"].to_numpy(float)
    masks = split_lines(prepared.orders["order_ts"], ~np.isnan(y))
    raw = rb.raw_columns(ds)
    assert "customers.region" not in raw.columns
    assert ("carrier_id" in raw.columns) == ("carrier_id" in ds.orders.columns)
    n_test = int(masks["test"].sum())
    derived = {"inv_shortfall_share": np.zeros(n_test)}
    scores = ev.baselines(prepared, masks, raw, derived)
    assert set(scores) == {"tabular", "logistic", "rule"}
    for name, p in scores.items():
        assert p.shape == (n_test,) and np.isfinite(p).all(), name
    assert roc_auc_score(y[masks["test"]], scores["tabular"]) > 0.5


def test_tabular_keeps_only_levels_it_can_learn(monkeypatch: pytest.MonkeyPatch):
    X, y, _ = route_world(3000, 3)
    X["customer_id"] = [f"C{k}" for k in range(len(X))]  # one line each: an id, not a level
    X.loc[:99, "customer_id"] = "REGULAR"
    monkeypatch.setattr(rb, "MAX_LEVELS", 2)
    model = rb.TabularBaseline().fit(X, y, np.arange(len(y)))
    assert model.levels_["customer_id"] == ["REGULAR"]
    assert len(model.levels_["x_vendor"]) == 2
