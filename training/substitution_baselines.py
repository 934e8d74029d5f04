"""The substitution report's baselines: what a data scientist would fit in an afternoon.

Each scores the same test offers as the model and is fitted only on what came before
the test period (the model's train and validation parts):

- ``popularity``: the offered item's acceptance rate over the offers before the test
  period, shrunk toward the overall rate (m = 20 pseudo-offers);
- ``habit``: the customer's most bought item in the category — its purchases of the
  offered item in ``orders`` before the offer, ties broken by the more recent purchase;
- ``conditional_logit``: McFadden's choice model within the offer set
  (:class:`models.conditional_logit.ConditionalLogit`) on the offered/original price
  ratio, the price rank in the set, every numeric ``x_*`` flag (promotion, display, …) and
  the Guadagni–Little loyalty to the item and its brand;
- ``attribute_similarity``: the candidate generation's closeness (what a rule table ranks by).

Every baseline runs on the contract minimum: without purchase history the habit scores
tie (the evaluation then falls back to the logged order) and the logit drops the loyalty
columns; a column that never varies is harmless to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.conditional_logit import ConditionalLogit

if TYPE_CHECKING:
    from models.substitution_recommender import SubstitutionRecommender
    from training.substitution import Prepared

POPULARITY_SMOOTHING = 20.0


def popularity(offers: pd.DataFrame, y: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Smoothed acceptance rate of each offer's item over the ``before`` offers."""
    prior = (y[before].sum() + 1.0) / (before.sum() + 2.0)
    item = offers["offered_item_id"].astype(str)
    stats = pd.DataFrame({"item": item[before], "y": y[before]}).groupby("item")["y"]
    accepted = item.map(stats.sum()).fillna(0.0).to_numpy()
    shown = item.map(stats.count()).fillna(0.0).to_numpy()
    m = POPULARITY_SMOOTHING
    return (accepted + m * prior) / (shown + m)


def habit(loyalty: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Purchases of the offered item by the customer, plus recency (< 1) to break ties."""
    if "item_purchases" not in loyalty:
        return np.zeros(n)
    return loyalty["item_purchases"] + 0.5 * loyalty["item_recency"]


def logit_design(X: pd.DataFrame, x_numeric: list[str]) -> tuple[np.ndarray, list[str]]:
    """The conditional logit's columns from the model matrix (missing → 0: no loyalty)."""
    price = X["log_price_ratio"]
    if "offer_price_ratio" in X.columns:
        price = X["offer_price_ratio"].fillna(price)
    columns = {"price_ratio": price, "price_rank": X["price_rank"]}
    for name in ("item_loyalty", "brand_loyalty"):
        if name in X.columns:
            columns[name] = X[name]
    for name in x_numeric:
        columns[name] = X[name]
    frame = pd.DataFrame(columns).fillna(0.0)
    return frame.to_numpy(dtype=float), list(frame.columns)


def baseline_scores(
    recommender: SubstitutionRecommender,
    prepared: Prepared,
    loyalty: dict[str, np.ndarray],
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Scores of the test offers per baseline, and what the fitted baselines learned."""
    test, before = prepared.part == 2, prepared.part < 2
    offers, X, y = prepared.offers, prepared.X, prepared.y
    catalog = recommender.features.catalog_
    o = catalog.lookup(offers.loc[test, "original_item_id"])
    j = catalog.lookup(offers.loc[test, "offered_item_id"])
    known = (o >= 0) & (j >= 0)
    similarity = np.where(
        known, catalog.similarity(np.where(known, o, 0), np.where(known, j, 0)), -np.inf
    )
    design, names = logit_design(X, recommender.features.x_numeric_)
    logit = ConditionalLogit().fit(design[before], y[before], prepared.groups[before])
    scores = {
        "popularity": popularity(offers, y, before)[test],
        "habit": habit(loyalty, len(offers))[test],
        "conditional_logit": logit.decision_function(design[test]),
        "attribute_similarity": similarity,
    }
    fitted = {
        "conditional_logit": {
            "coefficients": dict(zip(names, map(float, logit.coef_), strict=True)),
            "converged": logit.converged_,
            "fitted_on": "offer sets before the test period with an acceptance",
        }
    }
    return scores, fitted
