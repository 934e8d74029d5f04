"""Ranked substitutes from live stock: candidates → stock filter → acceptance → reasons.

Everything the request path needs is precomputed when the recommender is built (and
therefore present as soon as the MLflow model is loaded): candidate lists per item,
item attribute arrays, acceptance statistics as dictionaries. A request is then numpy
and dictionary lookups plus one small LightGBM call — no pandas.

Stock comes from the caller's :class:`~features.inventory.InventoryPositions`, the one
live inventory object of the serving process, never from a copy held here: a candidate
is offered only when available stock at the line's location covers the quantity, or —
flagged ``other_location`` — when another location can cover it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from features.inventory import InventoryPositions, StockSnapshot
from features.substitution import SubstitutionFeatures, history_keys
from features.substitution_catalog import ItemCatalog
from features.substitution_choice import choice_features
from models.substitution import AcceptanceModel, Reason
from models.substitution_reasons import top_reasons
from stockpilot.errors import InvalidInput, NotFound

DAY = np.timedelta64(1, "D")


class CandidateIndex:
    """Per item, the items worth offering in its place.

    The ``n_neighbours`` closest active items of the same category by attribute
    similarity (so an item with no substitution history — cold start — still has
    candidates), followed by every active item historically accepted in its place.
    """

    def __init__(self, n_neighbours: int = 30, block_size: int = 256) -> None:
        self.n_neighbours = n_neighbours
        self.block_size = block_size

    def fit(self, catalog: ItemCatalog, accepted_pairs: np.ndarray) -> CandidateIndex:
        if self.n_neighbours < 1:
            raise ValueError(f"n_neighbours must be >= 1, got {self.n_neighbours}")
        n = len(catalog)
        neighbours: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * n
        for cat in np.unique(catalog.category):
            members = np.flatnonzero(catalog.category == cat)
            pool = members[catalog.active[members]]
            if len(pool) == 0:
                continue
            for start in range(0, len(members), self.block_size):
                block = members[start : start + self.block_size]
                o = np.repeat(block, len(pool))
                j = np.tile(pool, len(block))
                sim = catalog.similarity(o, j).reshape(len(block), len(pool))
                sim[block[:, None] == pool[None, :]] = -np.inf  # never the item itself
                k = min(self.n_neighbours, len(pool))
                top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
                for row, item in enumerate(block):
                    cols = top[row][np.argsort(-sim[row, top[row]], kind="stable")]
                    cols = cols[np.isfinite(sim[row, cols])]
                    neighbours[item] = pool[cols]
        history: dict[int, list[int]] = {}
        for o, j in np.asarray(accepted_pairs, dtype=np.int64).reshape(-1, 2):
            if o != j and o >= 0 and j >= 0 and catalog.active[j]:
                history.setdefault(int(o), []).append(int(j))
        self.candidates_ = []
        for item in range(n):
            near = set(neighbours[item].tolist())
            extra = [j for j in dict.fromkeys(history.get(item, ())) if j not in near]
            self.candidates_.append(
                np.concatenate([neighbours[item], np.array(extra, dtype=np.int64)])
            )
        return self

    def __getitem__(self, item: int) -> np.ndarray:
        return self.candidates_[item]


@dataclass(frozen=True)
class Substitute:
    item_id: str
    rank: int
    p_accept: float
    location_id: str  # where the stock is
    other_location: bool  # True: the line's location cannot cover it, this one can
    available: float  # at location_id
    unit_price: float  # estimated price to this customer (see docs/substitution.md)
    price_delta: float  # per unit, vs the original line
    margin_delta: float | None  # per unit; None when a unit cost is missing
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class SubstitutionResult:
    request_id: str
    ts: datetime
    customer_id: str
    item_id: str
    qty: float
    location_id: str
    need_by: datetime | None
    unit_price: float | None
    context: dict[str, object]
    n_candidates: int  # before the stock filter
    substitutes: tuple[Substitute, ...]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _timestamp(value: date | datetime | str | None, argument: str) -> np.datetime64 | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{argument} must be a date or date-time, got {value!r}") from None
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return np.datetime64(stamp.to_datetime64(), "ns")


class SubstitutionRecommender:
    """The serving object: a fitted feature set, acceptance model and candidate index."""

    def __init__(
        self,
        features: SubstitutionFeatures,
        model: AcceptanceModel,
        candidates: CandidateIndex,
        n_reasons: int = 3,
    ) -> None:
        if model.feature_names_in_ != features.feature_names_in_:
            raise ValueError("model and features disagree on the feature columns")
        self.features = features
        self.model = model
        self.candidates = candidates
        self.n_reasons = n_reasons
        self.labels = {
            **{c: list(v) for c, v in features.x_vocab_.items()},
            **{f"customer_{c}": list(v) for c, v in features.customer_vocab_.items()},
        }

    def _stock(
        self,
        ids: np.ndarray,
        qty: float,
        location_id: str,
        inventory: InventoryPositions | StockSnapshot,
        other: bool,
    ) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
        """Local availability, where each candidate's stock is, how much, and which are kept."""
        local = np.array([inventory.available(i, location_id) for i in ids], dtype=float)
        where = [location_id] * len(ids)
        avail = local.copy()
        keep = local >= qty
        if other:
            for k in np.flatnonzero(~keep):
                best_loc, best = None, qty
                for loc, v in inventory.available_by_location(ids[k]).items():
                    if loc != location_id and v >= best:
                        best_loc, best = loc, v
                if best_loc is not None:
                    where[k], avail[k], keep[k] = best_loc, best, True
        return local, where, avail, keep

    def recommend(
        self,
        customer_id: str,
        item_id: str,
        qty: float,
        location_id: str,
        need_by: date | datetime | str | None = None,
        *,
        inventory: InventoryPositions | StockSnapshot,
        n: int = 5,
        ts: date | datetime | str | None = None,
        unit_price: float | None = None,
        context: Mapping[str, object] | None = None,
        other_locations: bool = True,
        explain: bool = True,
    ) -> SubstitutionResult:
        """Up to ``n`` substitutes ranked by calibrated acceptance probability."""
        if not qty > 0:
            raise InvalidInput(f"qty must be > 0, got {qty!r}")
        if n < 1:
            raise InvalidInput(f"n must be >= 1, got {n!r}")
        catalog = self.features.catalog_
        o = catalog.index.get(str(item_id))
        if o is None:
            raise NotFound(f"item_id {item_id!r} is not in the item master")
        now = _timestamp(ts, "ts")
        if now is None:
            now = np.datetime64(pd.Timestamp.now("UTC").tz_localize(None).to_datetime64(), "ns")
        due = _timestamp(need_by, "need_by")
        cand = cand_all = self._candidates(str(customer_id), o)
        ids = catalog.item_ids[cand]
        local, where, avail, keep = self._stock(ids, qty, location_id, inventory, other_locations)
        cand, ids, local, avail = cand[keep], ids[keep], local[keep], avail[keep]
        where = [w for w, k in zip(where, keep, strict=True) if k]
        m = len(cand)
        subs: tuple[Substitute, ...] = ()
        if m:
            X = self._matrix(customer_id, item_id, o, cand, ids, local / qty, now, due, context)
            p = self.model.calibrate(self.model.decision_function(X))
            top = np.argsort(-p, kind="stable")[:n]
            contrib = self.model.contributions(X[top]) if explain else None
            subs = tuple(
                self._substitute(
                    r, int(k), o, cand, ids, p, where, avail, unit_price, X, contrib, location_id
                )
                for r, k in enumerate(top)
            )
        return SubstitutionResult(
            request_id=uuid.uuid4().hex,
            ts=pd.Timestamp(now).to_pydatetime(),
            customer_id=str(customer_id),
            item_id=str(item_id),
            qty=float(qty),
            location_id=str(location_id),
            need_by=None if due is None else pd.Timestamp(due).to_pydatetime(),
            unit_price=None if unit_price is None else float(unit_price),
            context=dict(context or {}),
            n_candidates=len(cand_all),
            substitutes=subs,
        )

    def candidate_items(self, customer_id: str, item_id: str) -> list[str]:
        """The items a search for ``item_id`` looks at before the stock filter (whose stock
        a snapshot for a later search must hold); none for an unknown item."""
        o = self.features.catalog_.index.get(str(item_id))
        if o is None:
            return []
        return self.features.catalog_.item_ids[self._candidates(str(customer_id), o)].tolist()

    def _candidates(self, customer_id: str, o: int) -> np.ndarray:
        """The item's candidates, then the active items this customer buys in its category."""
        cand = self.candidates[o]
        loyalty = self.features.loyalty_
        if loyalty is None:
            return cand
        catalog = self.features.catalog_
        bought = loyalty.bought(customer_id, int(catalog.category[o]))
        bought = bought[(bought != o) & catalog.active[bought] & ~np.isin(bought, cand)]
        return np.concatenate([cand, bought]) if len(bought) else cand

    def _matrix(
        self,
        customer_id: str,
        item_id: str,
        o: int,
        cand: np.ndarray,
        ids: np.ndarray,
        cover: np.ndarray,
        now: np.datetime64,
        due: np.datetime64 | None,
        context: Mapping[str, object] | None,
    ) -> np.ndarray:
        """The same feature assembly as training, from index arrays instead of a frame."""
        fs = self.features
        m = len(cand)
        pair = fs.catalog_.pair_features(np.full(m, o), cand)
        keys = history_keys(
            np.full(m, str(customer_id), dtype=object),
            np.full(m, str(item_id), dtype=object),
            ids,
            pair,
            fs.taste_.keys(np.full(m, o), cand),
        )
        history = fs.history_.current(keys)
        loyalty = {} if fs.loyalty_ is None else fs.loyalty_.current(str(customer_id), o, cand)
        offer_set = fs.offer_set_.transform_request(
            fs.catalog_.list_price[cand],
            np.exp(pair["log_price_ratio"]),
            loyalty,
        )
        urgency = np.full(m, np.nan if due is None else (due - now) / DAY)
        customer = [np.full(m, c) for c in fs.customer_codes(str(customer_id))]
        x_columns = fs.x_values(context, m)
        choice = {}
        if fs.choice_ is not None:  # x_values lists the numeric x_* columns first
            x_numeric = dict(zip(fs.x_numeric_, x_columns, strict=False))
            R = fs.relations(np.full(m, o), cand, pair, x_numeric)
            choice = choice_features(fs.choice_.current(str(customer_id), R), np.zeros(m))
        return fs.assemble(
            pair, history, choice, loyalty, offer_set, urgency, cover, x_columns, customer
        )

    def _substitute(
        self,
        rank: int,
        k: int,
        o: int,
        cand: np.ndarray,
        ids: np.ndarray,
        p: np.ndarray,
        where: list[str],
        avail: np.ndarray,
        unit_price: float | None,
        X: np.ndarray,
        contrib: np.ndarray | None,
        location_id: str,
    ) -> Substitute:
        catalog = self.features.catalog_
        j = int(cand[k])
        base = catalog.list_price[o]
        original = float(unit_price) if unit_price is not None else float(base)
        index = original / base if base > 0 else 1.0  # this customer's price level
        offered = float(catalog.list_price[j] * index)
        margin = (offered - catalog.unit_cost[j]) - (original - catalog.unit_cost[o])
        reasons: tuple[Reason, ...] = ()
        if contrib is not None:
            names = self.features.feature_names_in_
            reasons = top_reasons(names, X[k], contrib[rank], self.labels, self.n_reasons)
        return Substitute(
            item_id=str(ids[k]),
            rank=rank + 1,
            p_accept=float(p[k]),
            location_id=where[k],
            other_location=where[k] != location_id,
            available=float(avail[k]),
            unit_price=round(offered, 4),
            price_delta=round(offered - original, 4),
            margin_delta=None if not np.isfinite(margin) else round(float(margin), 4),
            reasons=reasons,
        )
