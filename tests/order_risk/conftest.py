"""Fixtures of the order-risk tests: the small simulated dataset, prepared once, tiny models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from features.dataset import Dataset
from models.order_risk_scorer import OrderRiskScorer
from stockpilot.data import load_dataset
from training.order_risk import Prepared, fit, prepare, split_lines


@pytest.fixture(scope="session")
def small_ds(small_data_dir: Path) -> Dataset:
    return load_dataset(small_data_dir)


@pytest.fixture(scope="session")
def prepared(small_ds: Dataset) -> Prepared:
    return prepare(small_ds)


@pytest.fixture(scope="session")
def masks(prepared: Prepared) -> dict[str, np.ndarray]:
    labelled = ~np.isnan(prepared.outcomes["miss"].to_numpy(float))
    return split_lines(prepared.orders["order_ts"], labelled)


@pytest.fixture(scope="session")
def tiny_scorer(prepared: Prepared, masks: dict[str, np.ndarray]) -> OrderRiskScorer:
    """A small but real order-risk model (30 trees) on the small dataset."""
    return fit(prepared, masks, {"n_estimators": 30, "num_leaves": 7})
