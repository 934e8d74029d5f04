"""Offer-set context: how an offer compares with the offers shown beside it.

A customer whose item is short chooses among the offers of that line: the cheapest of
them, the one on promotion, the one it buys anyway. A binary acceptance model sees one
offer at a time, so these features carry the comparison: the offer's price rank in the
set, the actual offered/original price ratio (the ``substitutions`` table's optional
prices, which may include a promotion the list prices do not show), each numeric
``x_*`` flag relative to the set's mean, the customer's purchase loyalty (item, plain share,
brand) relative to the most loyal offer of the set, and the logged position when given.

The set is the logged offer set in training and the candidate list of one request at
serving, where the ``x_*`` context is the request's (the same for every candidate, so
relative to the set it is zero) and the position is unknown: candidates are scored as if
shown first (position 1), which reorders nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

SERVING_POSITION = 1.0
# Purchase-loyalty features (features.substitution_loyalty) compared with the set's best.
RELATIVE_LOYALTY = ("item_loyalty", "item_purchase_share", "item_regular_share", "brand_loyalty")


def _group_stat(groups: np.ndarray, values: np.ndarray, how: str) -> np.ndarray:
    return pd.Series(values).groupby(groups).transform(how).to_numpy(dtype=float)


def price_rank(groups: np.ndarray, price: np.ndarray) -> np.ndarray:
    """0 for the cheapest offer of its set, 1 for the dearest (ties share their mean rank)."""
    series = pd.Series(price)
    rank = series.groupby(groups).rank(method="average").to_numpy(dtype=float)
    n = series.groupby(groups).transform("count").to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (rank - 1.0) / (n - 1.0)
    return np.where(n > 1, out, np.where(np.isfinite(price), 0.5, np.nan))


class OfferSetContext:
    """Which offer-set features a dataset supports (``fit``), and their values (``transform``)."""

    @classmethod
    def none(cls) -> OfferSetContext:
        """No offer-set features: what a feature set pickled before they existed has."""
        ctx = cls()
        ctx.has_prices_ = ctx.has_position_ = False
        ctx.loyalty_, ctx.x_relative_, ctx.feature_names_ = [], [], []
        return ctx

    def fit(
        self, offers: pd.DataFrame, x_numeric: Sequence[str], loyalty: Sequence[str] = ()
    ) -> OfferSetContext:
        """``loyalty``: the purchase-loyalty features of the dataset (none without orders)."""
        prices = ("original_unit_price", "offered_unit_price")
        self.has_prices_ = all(c in offers.columns and offers[c].notna().any() for c in prices)
        self.has_position_ = "position" in offers.columns and offers["position"].notna().any()
        self.loyalty_ = [name for name in RELATIVE_LOYALTY if name in loyalty]
        self.x_relative_ = list(x_numeric)
        self.feature_names_ = [
            *(["offer_price_ratio"] if self.has_prices_ else []),
            "price_rank",
            *(f"{name}_vs_set_best" for name in self.loyalty_),
            *(f"{c}_vs_set" for c in self.x_relative_),
            *(["position"] if self.has_position_ else []),
        ]
        return self

    def transform(
        self,
        groups: np.ndarray,
        price: np.ndarray,
        price_ratio: np.ndarray,
        loyalty: Mapping[str, np.ndarray],
        x_columns: Mapping[str, np.ndarray],
        position: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Features of offers whose set is ``groups``; ``price`` is the offered price (any unit).

        ``price_ratio`` is offered/original price; ``loyalty`` the offers' purchase-loyalty
        features (missing without purchase history); ``x_columns`` the numeric ``x_*`` values.
        """
        out: dict[str, np.ndarray] = {}
        if self.has_prices_:
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.log(price_ratio)
            out["offer_price_ratio"] = np.where(np.isfinite(ratio), ratio, np.nan)
        out["price_rank"] = price_rank(groups, price)
        for name in self.loyalty_:
            values = loyalty[name]
            out[f"{name}_vs_set_best"] = values - _group_stat(groups, values, "max")
        for col in self.x_relative_:
            x = x_columns[col]
            out[f"{col}_vs_set"] = x - _group_stat(groups, x, "mean")
        if self.has_position_:
            out["position"] = np.asarray(position, dtype=float)
        return out

    def transform_request(
        self, price: np.ndarray, price_ratio: np.ndarray, loyalty: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """The same features for the candidates of one request (numpy only: the hot path)."""
        m = len(price)
        out: dict[str, np.ndarray] = {}
        if self.has_prices_:
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.log(price_ratio)
            out["offer_price_ratio"] = np.where(np.isfinite(ratio), ratio, np.nan)
        # Mean ranks of ties, as pandas' rank(method="average") in training.
        _, inverse, counts = np.unique(price, return_inverse=True, return_counts=True)
        first = np.cumsum(np.r_[0, counts[:-1]])
        mean_rank = first[inverse] + (counts[inverse] - 1) / 2.0
        out["price_rank"] = mean_rank / (m - 1) if m > 1 else np.full(m, 0.5)
        for name in self.loyalty_:
            values = loyalty[name]
            best = np.nanmax(values) if np.isfinite(values).any() else np.nan
            out[f"{name}_vs_set_best"] = values - best
        for col in self.x_relative_:
            out[f"{col}_vs_set"] = np.zeros(m)
        if self.has_position_:
            out["position"] = np.full(m, SERVING_POSITION)
        return out
