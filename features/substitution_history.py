"""Acceptance history of substitute offers: smoothed rates by item, pair and customer.

Two views of the same statistics:

- **point in time** (training): each offer sees only offers strictly before its own
  ``ts`` — offers of the same offer set share ``ts`` and never see each other — so a
  model is never trained on features that peek at the outcome it learns;
- **current** (serving): totals over the whole history, looked up in dictionaries.

Rates are shrunk toward a prior (empirical-Bayes style) because most pairs and many
customers have few offers: ``(accepted + m·prior) / (offers + m)``. The global prior is
itself point-in-time (Laplace-smoothed), the pair rate shrinks toward the offered
item's rate and the customer's brand/price rates (and the taste statistics of
:mod:`features.substitution_taste`) toward the customer's rate.

A key equal to ``UNKNOWN`` (e.g. the offered item has no value for the attribute) puts
the row in no meaningful cell: its rate is missing rather than a made-up number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_SMOOTHING = {
    "item": 20.0,
    "pair": 5.0,
    "original": 20.0,
    "customer": 10.0,
    "customer_brand": 5.0,
    "customer_price": 5.0,
    "customer_item": 3.0,
    "taste": 10.0,  # every customer × relation statistic (features.substitution_taste)
}
UNKNOWN = ""  # a key value meaning "not known": the statistic's features are missing


@dataclass(frozen=True)
class Statistic:
    name: str
    key: tuple[str, ...]
    prior: str  # "global" or the name of another statistic
    with_count: bool
    smoothing: str | None = None  # key of the smoothing table; None: the statistic's name


STATISTICS = (
    Statistic("item", ("offered",), "global", True),
    Statistic("pair", ("original", "offered"), "item", True),
    Statistic("original", ("original",), "global", False),
    Statistic("customer", ("customer",), "global", True),
    Statistic("customer_brand", ("customer", "same_brand"), "customer", False),
    Statistic("customer_price", ("customer", "pricier"), "customer", False),
    Statistic("customer_item", ("customer", "offered"), "customer", True),
)


def smooth(accepted: np.ndarray, offers: np.ndarray, prior: np.ndarray, m: float) -> np.ndarray:
    """Acceptance rate shrunk toward ``prior`` with the weight of ``m`` pseudo-offers."""
    return (accepted + m * prior) / (offers + m)


def counts_before(
    keys: pd.DataFrame, ts: pd.Series, accepted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(accepted, offers) per row counted over rows with the same key and a strictly earlier ts."""
    cols = list(keys.columns)
    frame = keys.reset_index(drop=True).assign(_ts=ts.to_numpy(), _y=accepted)
    by = [*cols, "_ts"]
    per_ts = frame.groupby(by, sort=True)["_y"].agg(["sum", "count"])
    running = per_ts.groupby(level=cols, sort=False).cumsum() if cols else per_ts.cumsum()
    target = pd.MultiIndex.from_frame(frame[by]) if cols else pd.Index(frame["_ts"])
    before = (running - per_ts).reindex(target)
    return before["sum"].to_numpy(dtype=float), before["count"].to_numpy(dtype=float)


class AcceptanceHistory:
    """Smoothed acceptance statistics; ``fit`` keeps the totals for the current view.

    ``statistics`` defaults to ``STATISTICS``; a statistic whose key columns are absent
    from the keys given to ``fit`` is dropped. A prior must come before its users.
    """

    def __init__(
        self,
        smoothing: Mapping[str, float] | None = None,
        statistics: Sequence[Statistic] | None = None,
    ) -> None:
        self.smoothing = smoothing
        self.statistics = statistics

    def _m(self, name: str) -> float:
        return float({**DEFAULT_SMOOTHING, **(self.smoothing or {})}[name])

    def fit(self, keys: pd.DataFrame, ts: pd.Series, accepted: pd.Series) -> AcceptanceHistory:
        y = accepted.astype(float).to_numpy()
        candidates = STATISTICS if self.statistics is None else tuple(self.statistics)
        self.statistics_ = [s for s in candidates if all(k in keys.columns for k in s.key)]
        known = {"global"}
        for stat in self.statistics_:
            if stat.prior not in known:
                raise ValueError(
                    f"statistics: {stat.name!r} needs prior {stat.prior!r} listed before it"
                )
            known.add(stat.name)
        self.global_ = (float(y.sum()), float(len(y)))
        self.totals_: dict[str, dict[tuple[str, ...], tuple[float, float]]] = {}
        for stat in self.statistics_:
            grouped = (
                pd.DataFrame({**{k: keys[k].to_numpy() for k in stat.key}, "_y": y})
                .groupby(list(stat.key), sort=False)["_y"]
                .agg(["sum", "count"])
            )
            index = grouped.index
            tuples = index if isinstance(index, pd.MultiIndex) else ((k,) for k in index)
            self.totals_[stat.name] = {
                tuple(map(str, t)): (float(a), float(n))
                for t, a, n in zip(tuples, grouped["sum"], grouped["count"], strict=True)
            }
        return self

    def feature_names(self) -> list[str]:
        names = []
        for stat in self.statistics_:
            names.append(f"{stat.name}_accept_rate")
            if stat.with_count:
                names.append(f"{stat.name}_offers")
        return names

    def _features(
        self,
        keys: pd.DataFrame | Mapping[str, Sequence[str] | np.ndarray],
        counts: Mapping[str, tuple[np.ndarray, np.ndarray]],
        global_rate: np.ndarray,
    ) -> dict[str, np.ndarray]:
        rates: dict[str, np.ndarray] = {"global": global_rate}
        out: dict[str, np.ndarray] = {}
        unknown: dict[str, np.ndarray] = {}  # per key column, shared by its statistics
        for stat in self.statistics_:
            acc, n = counts[stat.name]
            m = self._m(stat.smoothing or stat.name)
            rates[stat.name] = smooth(acc, n, rates[stat.prior], m)
            for k in stat.key:
                if k not in unknown:
                    unknown[k] = np.asarray(keys[k], dtype=object) == UNKNOWN
            missing = np.logical_or.reduce([unknown[k] for k in stat.key])
            out[f"{stat.name}_accept_rate"] = np.where(missing, np.nan, rates[stat.name])
            if stat.with_count:
                out[f"{stat.name}_offers"] = np.where(missing, np.nan, np.log1p(n))
        return out

    def point_in_time(
        self, keys: pd.DataFrame, ts: pd.Series, accepted: pd.Series
    ) -> dict[str, np.ndarray]:
        """Features of each offer from the offers of ``keys`` strictly before it."""
        y = accepted.astype(float).to_numpy()
        counts = {
            stat.name: counts_before(keys[list(stat.key)], ts, y) for stat in self.statistics_
        }
        g_acc, g_n = counts_before(keys[[]], ts, y)
        return self._features(keys, counts, (g_acc + 1.0) / (g_n + 2.0))

    def current(self, keys: Mapping[str, Sequence[str] | np.ndarray]) -> dict[str, np.ndarray]:
        """Features from the fitted totals (every offer seen so far); plain dict lookups."""
        counts = {}
        for stat in self.statistics_:
            table = self.totals_[stat.name]
            columns = [keys[k] for k in stat.key]  # text keys, as history_keys() makes them
            found = [table.get(t, (0.0, 0.0)) for t in zip(*columns, strict=True)]
            pairs = np.array(found, dtype=float).reshape(-1, 2)
            counts[stat.name] = (pairs[:, 0], pairs[:, 1])
        n_rows = len(keys[self.statistics_[0].key[0]]) if self.statistics_ else 0
        g_acc, g_n = self.global_
        return self._features(keys, counts, np.full(n_rows, (g_acc + 1.0) / (g_n + 2.0)))
