"""Fixtures of the substitution tests: tiny seeded frames and one small fitted recommender."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.dataset import Dataset


def tiny_items() -> pd.DataFrame:
    """Two categories; numeric and text attributes; one inactive item."""
    return pd.DataFrame(
        {
            "item_id": ["A1", "A2", "A3", "A4", "B1", "B2", "B3"],
            "category": ["a", "a", "a", "a", "b", "b", "b"],
            "unit_cost": [5.0, 5.5, 9.0, 4.0, 1.0, 1.2, np.nan],
            "list_price": [10.0, 11.0, 20.0, 8.0, 2.0, 2.2, 2.1],
            "brand": ["x", "x", "y", "y", "z", "z", "w"],
            "pack_size": [1.0, 1.0, 6.0, 1.0, 12.0, 12.0, 12.0],
            "active": [True, True, True, False, True, True, True],
            "attr_size": [10.0, 11.0, 30.0, 10.5, 1.0, 1.0, 2.0],
            "attr_colour": ["red", "red", "blue", "red", "green", None, "green"],
        }
    )


def tiny_offers(n_sets: int = 40, seed: int = 0) -> pd.DataFrame:
    """Seeded offer sets over the tiny catalogue: 2–3 offers of the same category each."""
    rng = np.random.default_rng(seed)
    rows = []
    cats = {"a": ["A1", "A2", "A3"], "b": ["B1", "B2", "B3"]}
    for k in range(n_sets):
        cat = "a" if k % 2 == 0 else "b"
        original, *offered = rng.permutation(cats[cat])
        ts = pd.Timestamp("2024-01-01") + pd.Timedelta(hours=int(k * 7))
        for pos, item in enumerate(offered, start=1):
            rows.append(
                {
                    "event_id": f"E{len(rows):04d}",
                    "ts": ts,
                    "customer_id": f"C{k % 4}",
                    "original_item_id": str(original),
                    "offered_item_id": str(item),
                    "accepted": bool(rng.random() < 0.4),
                    "location_id": "L1",
                    "order_id": f"O{k:04d}",
                    "position": pos,
                    "x_display": float(rng.random() < 0.3),
                    "x_channel": str(rng.choice(["web", "phone"])),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def small_dataset(small_data_dir: Path) -> Dataset:
    from stockpilot.data import load_dataset

    return load_dataset(small_data_dir)


@pytest.fixture(scope="session")
def small_fit(small_dataset: Dataset):
    """(recommender, prepared) fitted on the small simulated dataset, without MLflow."""
    from training.substitution import fit

    return fit(small_dataset, num_threads=1)
