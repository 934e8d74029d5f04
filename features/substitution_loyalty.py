"""Purchase loyalty: what the customer itself buys, from the ``orders`` table.

When the item a habit-driven customer wanted is short, it takes the item it buys anyway,
or another of its usual brand; no acceptance statistic of the ``substitutions`` table sees
that until the customer has been offered that item several times. The customer's own
purchase history does, from its first order. This is Guadagni & Little's (1983) brand
loyalty, an exponentially smoothed purchase indicator over the customer's purchase
occasions in the category,

    L_k(j) = Σ_{m ≤ k, item_m = j} α^(k−m) · (1 − α) / (1 − α^k),

the recency-weighted share of item ``j`` among the customer's ``k`` purchases of the category
(normalised, so that a customer's first purchases give a share rather than a value near
zero, and the shares of a category sum to one). The share of a brand is the sum of its
items' shares. Occasions are order lines (one per order and item).

A purchase at a deal price says less about what the customer prefers than one at its
usual price: a shopper of habit buys the item it never otherwise takes when that item is on
promotion. ``item_regular_share`` is therefore the item's share among the customer's
*regular-price* purchases of the category, where a line is a deal when its price, as a share
of the item's list price, is more than ``DEAL_CUT`` below the highest such share among the
customer's last ``DEAL_WINDOW`` lines of the category (its contract level there; a list-price
change moves the reference within a few lines). Contract columns only: ``unit_price`` and
``items.list_price``, no promotion flag needed.

Point in time: an offer sees the purchases strictly before its *cutoff* — the order time
of the short line it was made for when known, else the offer's own time — so the lines of
that very order (where an ERP may record the accepted substitute) never leak into it.
Serving reads the state after every purchase of the training data (:meth:`current`);
``tests/substitution/test_loyalty.py`` checks that both views agree.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

DECAY = 0.8  # α: Guadagni & Little estimated 0.875 for brands; items churn faster
DEAL_CUT = 0.05  # price this much (relative) below the customer's level: a deal
DEAL_WINDOW = 8  # lines of the customer × category that set that level
FEATURES = (
    "item_loyalty",
    "item_purchase_share",
    "item_regular_share",
    "last_purchased",
    "brand_loyalty",
    "original_loyalty",
    "category_purchases",
)
HABIT = ("item_purchases", "item_recency")  # what the habit baseline ranks by
# A gap this wide in log space makes an earlier group's terms vanish (e^-60 ≈ 1e-26).
_GROUP_GAP = 60.0


def _decayed_runs(group: np.ndarray, occasion: np.ndarray, decay: float) -> np.ndarray:
    """Σ_{r' ≤ r, same group} decay^(occasion_r − occasion_r') for rows sorted by group, occasion.

    Computed in log space with one ``logaddexp.accumulate`` over all groups: each group is
    shifted far above the previous one so that earlier groups contribute nothing.
    """
    if len(group) == 0:
        return np.zeros(0)
    lam = -np.log(decay)
    x = lam * occasion.astype(float)
    start = np.r_[True, group[1:] != group[:-1]]
    first = np.flatnonzero(start)
    span = np.maximum.reduceat(x, first) - x[first]
    lift = np.cumsum(np.r_[0.0, (span + _GROUP_GAP)[:-1]]) - x[first]
    shifted = x + np.repeat(lift, np.diff(np.r_[first, len(x)]))
    return np.exp(np.logaddexp.accumulate(shifted) - shifted)


def _rolling_max(group: np.ndarray, values: np.ndarray, window: int) -> np.ndarray:
    """Max of ``values`` over each row and the ``window − 1`` rows before it in its group
    (rows sorted by group; NaN ignored)."""
    out = values.copy()
    for k in range(1, window):
        if k >= len(values):
            break
        same = group[k:] == group[:-k]
        earlier = np.where(same, values[:-k], np.nan)
        out[k:] = np.fmax(out[k:], earlier)
    return out


@dataclass
class _CustomerState:
    """One customer's purchases after the last order line of the training data."""

    items: np.ndarray  # catalogue positions, sorted
    loyalty: np.ndarray  # Guadagni–Little share within the item's category
    share: np.ndarray  # plain share of purchases of the category
    count: np.ndarray  # purchases of the item
    recency: np.ndarray  # occasion of the last purchase / purchases of the category (1 = last)
    category_purchases: dict[int, int]
    regular: np.ndarray | None = None  # share among regular-price purchases of the category
    regular_purchases: dict[int, float] | None = None  # regular-price occasions per category


class PurchaseLoyalty:
    """Purchase-history features of (customer, original, offered item) triples.

    ``fit`` reads the ``orders`` table and keeps each customer's final state for serving;
    :meth:`point_in_time` recomputes the features of logged offers from the orders before
    each offer (training and evaluation).
    """

    def __init__(self, decay: float = DECAY) -> None:
        self.decay = decay

    def fit(
        self,
        orders: pd.DataFrame,
        index: Mapping[str, int],
        category: np.ndarray,
        brand: np.ndarray | None,
        list_price: np.ndarray | None = None,
    ) -> PurchaseLoyalty:
        """``list_price`` (by catalogue position) enables ``item_regular_share``."""
        if not 0 < self.decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {self.decay}")
        self.index_ = dict(index)
        self.category_ = np.asarray(category)
        self.brand_ = None if brand is None else np.asarray(brand)
        self.list_price_ = None if list_price is None else np.asarray(list_price, dtype=float)
        has_prices = self.list_price_ is not None and "unit_price" in orders.columns
        self.feature_names_ = [
            f
            for f in FEATURES
            if (f != "brand_loyalty" or brand is not None)
            and (f != "item_regular_share" or has_prices)
        ]
        p, customer_ids = self._purchases(orders)
        last = p.groupby(["c", "i"], sort=True).tail(1)
        k = p.groupby(["c", "g"], sort=False)["k"].max()
        total = k.reindex(pd.MultiIndex.from_frame(last[["c", "g"]])).to_numpy(dtype=float)
        kr = p.groupby(["c", "g"], sort=False)["kr"].max()
        regular_total = kr.reindex(pd.MultiIndex.from_frame(last[["c", "g"]])).to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            regular = np.where(regular_total > 0, last["nr"].to_numpy(float) / regular_total, 0.0)
        gl = self._share(total, last["k"].to_numpy(dtype=float), last["e"].to_numpy())
        self.customers_: dict[str, _CustomerState] = {}
        cat_counts: dict[int, dict[int, int]] = {}
        for (c, g), n in k.items():
            cat_counts.setdefault(int(c), {})[int(g)] = int(n)
        regular_counts: dict[int, dict[int, float]] = {}
        for (c, g), n in kr.items():
            regular_counts.setdefault(int(c), {})[int(g)] = float(n)
        c_col = last["c"].to_numpy()
        bounds = np.flatnonzero(np.r_[True, c_col[1:] != c_col[:-1], True])
        items = last["i"].to_numpy()
        count = last["n"].to_numpy(dtype=float)
        for a, b in itertools.pairwise(bounds):
            c = int(c_col[a])
            self.customers_[customer_ids[c]] = _CustomerState(
                items=items[a:b].astype(np.int64),
                loyalty=gl[a:b],
                share=count[a:b] / total[a:b],
                count=count[a:b],
                recency=last["k"].to_numpy(dtype=float)[a:b] / total[a:b],
                category_purchases=cat_counts[c],
                regular=regular[a:b],
                regular_purchases=regular_counts[c],
            )
        return self

    def _purchases(self, orders: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
        """Order lines of known items as occasions, and the customer ids of the codes ``c``.

        Columns: ``c`` customer code, ``i`` item, ``g`` category, ``t`` order time, ``k`` the
        occasion's number in the customer × category, ``n`` the purchase's number of the item,
        ``e`` the item's decayed run (:func:`_decayed_runs`), ``b`` brand when known, ``kr``
        and ``nr`` the regular-price occasions of the category and purchases of the item so far.
        """
        cols = ["order_id", "order_ts", "customer_id", "item_id"]
        priced = "unit_price" in orders.columns
        lines = orders[[*cols, "unit_price"] if priced else cols].drop_duplicates(
            ["order_id", "item_id"]
        )
        get = self.index_.get
        i = np.fromiter((get(str(v), -1) for v in lines["item_id"]), np.int64, len(lines))
        known = i >= 0
        customers = lines["customer_id"].astype(str).to_numpy()[known]
        c, uniques = pd.factorize(customers)
        p = pd.DataFrame(
            {
                "c": c.astype(np.int64),
                "i": i[known],
                "g": self.category_[i[known]].astype(np.int64),
                "t": lines["order_ts"].to_numpy(dtype="datetime64[ns]")[known],
                "order": lines["order_id"].astype(str).to_numpy()[known],
            }
        ).sort_values(["c", "g", "t", "order", "i"], kind="stable")
        p["k"] = p.groupby(["c", "g"], sort=False).cumcount().to_numpy() + 1
        regular = np.ones(len(p))
        if priced and self.list_price_ is not None:
            paid = lines["unit_price"].to_numpy(dtype=float)[known][p.index.to_numpy()]
            with np.errstate(invalid="ignore", divide="ignore"):
                level = paid / self.list_price_[p["i"].to_numpy()]
            level = np.where(np.isfinite(level), level, np.nan)
            key = p["c"].to_numpy() * (int(self.category_.max()) + 2) + p["g"].to_numpy()
            reference = _rolling_max(key, level, DEAL_WINDOW)
            regular = (~(level < reference * (1 - DEAL_CUT))).astype(float)
        p["r"] = regular
        p["kr"] = p.groupby(["c", "g"], sort=False)["r"].cumsum().to_numpy()
        if self.brand_ is not None:
            p["b"] = self.brand_[p["i"].to_numpy()].astype(np.int64)
        p = p.sort_values(["c", "i", "k"], kind="stable")
        p["n"] = p.groupby(["c", "i"], sort=False).cumcount().to_numpy() + 1
        p["nr"] = p.groupby(["c", "i"], sort=False)["r"].cumsum().to_numpy()
        p["e"] = _decayed_runs(
            p["c"].to_numpy() * (len(self.category_) + 1) + p["i"].to_numpy(),
            p["k"].to_numpy(),
            self.decay,
        )
        return p.reset_index(drop=True), [str(u) for u in uniques]

    def _share(self, total: np.ndarray, last_k: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Normalised Guadagni–Little share at ``total`` occasions from the run at ``last_k``."""
        a = self.decay
        with np.errstate(invalid="ignore", divide="ignore"):
            out = a ** (total - last_k) * e * (1 - a) / (1 - a**total)
        return np.where(total > 0, out, np.nan)

    # --- point in time (training, evaluation) ---------------------------------------

    def point_in_time(
        self,
        orders: pd.DataFrame,
        customer: np.ndarray,
        original: np.ndarray,
        offered: np.ndarray,
        cutoff: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Features of offers from the purchases strictly before each ``cutoff``.

        ``original``/``offered`` are catalogue positions (-1: not in the master, features
        missing); ``customer`` holds ids; ``cutoff`` is datetime64 (NaT: no history).
        """
        p, customer_ids = self._purchases(orders)
        lookup = {c: k for k, c in enumerate(customer_ids)}
        c = np.fromiter((lookup.get(str(v), -1) for v in customer), np.int64, len(customer))
        t = np.asarray(cutoff, dtype="datetime64[ns]")
        ok = (c >= 0) & ~np.isnat(t)
        if self.brand_ is not None:
            b_runs = self._brand_runs(p)
        out = self._empty(len(customer))
        for role, items in (("offered", np.asarray(offered)), ("original", np.asarray(original))):
            valid = ok & (items >= 0)
            q = pd.DataFrame(
                {
                    "c": c[valid],
                    "i": items[valid],
                    "g": self.category_[items[valid]].astype(np.int64),
                    "t": t[valid],
                    "row": np.flatnonzero(valid),
                }
            ).sort_values("t", kind="stable")
            category = self._asof(q, p, ["c", "g"], ["k", "kr"])
            total = category["k"].fillna(0).to_numpy()
            regular_total = category["kr"].fillna(0).to_numpy()
            run = self._asof(q, p, ["c", "i"], ["k", "e", "n", "nr"])
            last_k = run["k"].to_numpy(dtype=float)
            e = run["e"].fillna(0.0).to_numpy()
            gl = np.nan_to_num(self._share(total, np.nan_to_num(last_k, nan=0.0), e), nan=0.0)
            gl = np.where(total > 0, gl, np.nan)
            rows = q["row"].to_numpy()
            if role == "original":
                out["original_loyalty"][rows] = gl
                continue
            n = run["n"].fillna(0.0).to_numpy()
            with np.errstate(invalid="ignore", divide="ignore"):
                out["item_loyalty"][rows] = gl
                out["item_purchase_share"][rows] = np.where(total > 0, n / total, np.nan)
                out["item_regular_share"][rows] = np.where(
                    regular_total > 0, run["nr"].fillna(0.0).to_numpy() / regular_total, np.nan
                )
                out["last_purchased"][rows] = np.where(
                    total > 0, (last_k == total).astype(float), np.nan
                )
                out["item_purchases"][rows] = n
                out["item_recency"][rows] = np.where(total > 0, np.nan_to_num(last_k) / total, 0)
            out["category_purchases"][rows] = np.log1p(total)
            if self.brand_ is not None:
                qb = q.assign(b=self.brand_[q["i"].to_numpy()].astype(np.int64))
                brand = self._asof(qb, b_runs, ["c", "g", "b"], ["k", "e"])
                bgl = self._share(
                    total, brand["k"].fillna(0).to_numpy(), brand["e"].fillna(0).to_numpy()
                )
                bgl = np.where(qb["b"].to_numpy() < 0, np.nan, np.nan_to_num(bgl, nan=0.0))
                out["brand_loyalty"][rows] = np.where(total > 0, bgl, np.nan)
        return self._select(out)

    def _brand_runs(self, p: pd.DataFrame) -> pd.DataFrame:
        """The decayed runs of brands (instead of items) within each customer × category."""
        b = p.sort_values(["c", "g", "b", "k"], kind="stable").reset_index(drop=True)
        key = (b["c"].to_numpy() * (self.category_.max() + 2) + b["g"].to_numpy()) * (
            int(b["b"].max()) + 2 if len(b) else 1
        ) + b["b"].to_numpy()
        b["e"] = _decayed_runs(key, b["k"].to_numpy(), self.decay)
        return b

    @staticmethod
    def _asof(q: pd.DataFrame, p: pd.DataFrame, by: list[str], cols: list[str]) -> pd.DataFrame:
        """For each query row (sorted by ``t``), ``cols`` of the last purchase strictly before."""
        right = p[[*by, "t", *cols]].sort_values("t", kind="stable")
        joined = pd.merge_asof(
            q[[*by, "t"]].reset_index(drop=True),
            right,
            on="t",
            by=by,
            direction="backward",
            allow_exact_matches=False,
        )
        return joined[cols]

    def _empty(self, n: int) -> dict[str, np.ndarray]:
        out = {name: np.full(n, np.nan) for name in FEATURES}
        return {**out, **{name: np.zeros(n) for name in ("category_purchases", *HABIT)}}

    def _select(self, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The features of this dataset (no brand: no brand loyalty) and the habit columns."""
        return {k: out[k] for k in (*self.feature_names_, *HABIT)}

    # --- serving ----------------------------------------------------------------------

    def bought(self, customer_id: str, category: int) -> np.ndarray:
        """Catalogue positions of the items the customer has bought in ``category``."""
        state = self.customers_.get(str(customer_id))
        if state is None:
            return np.empty(0, dtype=np.int64)
        return state.items[self.category_[state.items] == category]

    def current(
        self, customer_id: str, original: int, offered: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Features of candidates ``offered`` for one request, from the final state."""
        offered = np.asarray(offered, dtype=np.int64)
        out = self._empty(len(offered))
        state = self.customers_.get(str(customer_id))
        if state is None:
            return self._select(out)
        g = self.category_[offered]
        total = np.array([state.category_purchases.get(int(x), 0) for x in g], dtype=float)
        pos = np.searchsorted(state.items, offered)
        pos = np.minimum(pos, max(len(state.items) - 1, 0))
        hit = (state.items[pos] == offered) if len(state.items) else np.zeros(len(offered), bool)
        has = total > 0
        out["item_loyalty"] = np.where(has, np.where(hit, state.loyalty[pos], 0.0), np.nan)
        out["item_purchase_share"] = np.where(has, np.where(hit, state.share[pos], 0.0), np.nan)
        if state.regular is not None:
            counts = state.regular_purchases or {}
            regular_total = np.array([counts.get(int(x), 0.0) for x in g], dtype=float)
            out["item_regular_share"] = np.where(
                regular_total > 0, np.where(hit, state.regular[pos], 0.0), np.nan
            )
        out["last_purchased"] = np.where(has, (hit & (state.recency[pos] == 1.0)) * 1.0, np.nan)
        out["item_purchases"] = np.where(hit, state.count[pos], 0.0)
        out["item_recency"] = np.where(hit, state.recency[pos], 0.0)
        out["category_purchases"] = np.log1p(total)
        if self.brand_ is not None:
            mine = self.category_[state.items]
            same = (mine[None, :] == g[:, None]) & (
                self.brand_[state.items][None, :] == self.brand_[offered][:, None]
            )
            bgl = (same * state.loyalty[None, :]).sum(axis=1)
            unknown = self.brand_[offered] < 0
            out["brand_loyalty"] = np.where(has & ~unknown, bgl, np.nan)
        o_total = state.category_purchases.get(int(self.category_[original]), 0)
        k = np.searchsorted(state.items, original)
        o_hit = k < len(state.items) and state.items[k] == original
        o_value = float(state.loyalty[k]) if o_hit else 0.0
        out["original_loyalty"][:] = o_value if o_total > 0 else np.nan
        return self._select(out)
