"""The substitution feature set: item attributes, pair closeness and offer context.

Everything derives from the data contract, never from a particular data source: every
``attr_*`` column of ``items`` (numeric → scaled difference, text → same/different),
the optional ``brand`` and ``pack_size``, the required ``list_price``, the optional
customer attributes (``segment``, ``tier``, ``region``) and every ``x_*`` column of
``substitutions``. A column that is absent simply yields fewer features. The same
columns key the customer's own acceptance history per relation to the original
(:mod:`features.substitution_taste`): personal taste, which no pair feature can carry.
The customer's purchases in ``orders`` give its loyalty to the offered item and brand
(:mod:`features.substitution_loyalty`), the other offers of the same short line the
comparison the customer makes (:mod:`features.substitution_offerset`), and a per-customer
logistic regression on the pair relations the customer's weights on all of them at once
(:mod:`features.substitution_choice`).

Training (a frame of logged offers) and serving (one request, numpy only) build the
feature matrix through the same functions: :meth:`ItemCatalog.pair_features` and
:meth:`SubstitutionFeatures.assemble` take integer index arrays, whatever produced them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.substitution_catalog import DIFF_CLIP, ItemCatalog, _codes
from features.substitution_choice import (
    CHOICE_FEATURES,
    CustomerChoice,
    choice_features,
    order_steps,
    relation_matrix,
    relation_names,
    text_rank,
)
from features.substitution_context import offer_set_ids, order_context, stock_context
from features.substitution_history import STATISTICS, AcceptanceHistory
from features.substitution_loyalty import PurchaseLoyalty
from features.substitution_offerset import SERVING_POSITION, OfferSetContext
from features.substitution_taste import TasteRelations

# Re-exported: importers (and models pickled before the split) find them here.
__all__ = [
    "CUSTOMER_ATTRIBUTES",
    "DIFF_CLIP",
    "FEATURE_SET_VERSION",
    "ItemCatalog",
    "SubstitutionFeatures",
    "history_keys",
    "offer_set_ids",
    "order_context",
    "stock_context",
]

FEATURE_SET_VERSION = "substitution-v5"
CUSTOMER_ATTRIBUTES = ("segment", "tier", "region")
STOCK_COVER_CLIP = 20.0


def history_keys(
    customer: np.ndarray,
    original: np.ndarray,
    offered: np.ndarray,
    pair: Mapping[str, np.ndarray],
    relations: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Keys of the acceptance history: who, which items, how brand/price/attributes moved."""
    keys = {
        "customer": customer,
        "original": original,
        "offered": offered,
        "pricier": np.where(pair["log_price_ratio"] > 0, "1", "0"),
    }
    if "same_brand" in pair:
        keys["same_brand"] = np.where(pair["same_brand"] == 1, "1", "0")
    return {**keys, **(relations or {})}


class SubstitutionFeatures:
    """The named, versioned feature set of the acceptance model (``FEATURE_SET_VERSION``).

    ``fit`` learns the item catalogue, the vocabularies of categorical columns, the
    acceptance history and the customers' purchase state; ``transform`` turns offers (the
    ``substitutions`` shape, plus optional ``need_by``/``qty``/``available``/``order_ts``)
    into the model matrix.
    """

    version = FEATURE_SET_VERSION
    # A model pickled before substitution-v3 has neither: it is served with its own columns.
    loyalty_: PurchaseLoyalty | None = None
    offer_set_: OfferSetContext = OfferSetContext.none()
    # Nor has one pickled before substitution-v5 the customer choice model.
    choice_: CustomerChoice | None = None

    def __init__(self, history_smoothing: Mapping[str, float] | None = None) -> None:
        self.history_smoothing = history_smoothing

    def fit(
        self,
        items: pd.DataFrame,
        offers: pd.DataFrame,
        customers: pd.DataFrame | None = None,
        orders: pd.DataFrame | None = None,
    ) -> SubstitutionFeatures:
        self.catalog_ = ItemCatalog.from_items(items)
        self.taste_ = TasteRelations().fit(self.catalog_)
        self.customer_vocab_: dict[str, dict[str, int]] = {}
        self.customer_codes_: dict[str, dict[str, int]] = {}
        if customers is not None:
            for col in CUSTOMER_ATTRIBUTES:
                if col in customers.columns and customers[col].notna().any():
                    codes, vocab = _codes(customers[col])
                    self.customer_vocab_[col] = vocab
                    ids = customers["customer_id"].astype(str)
                    self.customer_codes_[col] = {
                        c: int(k) for c, k in zip(ids, codes, strict=True) if k >= 0
                    }
        self.x_numeric_: list[str] = []
        self.x_vocab_: dict[str, dict[str, int]] = {}
        for col in sorted(c for c in offers.columns if str(c).startswith("x_")):
            if pd.api.types.is_numeric_dtype(offers[col]):
                self.x_numeric_.append(col)
            else:
                self.x_vocab_[col] = _codes(offers[col])[1]
        self.history_ = AcceptanceHistory(
            self.history_smoothing, [*STATISTICS, *self.taste_.statistics()]
        ).fit(self.history_keys(offers), offers["ts"], offers["accepted"])
        self.loyalty_: PurchaseLoyalty | None = None
        if orders is not None and not orders.empty:
            catalog = self.catalog_
            self.loyalty_ = PurchaseLoyalty().fit(
                orders, catalog.index, catalog.category, catalog.brand, catalog.list_price
            )
        self.offer_set_ = OfferSetContext().fit(offers, self.x_numeric_, self.loyalty_names())
        unique = items.drop_duplicates("item_id").reset_index(drop=True)  # catalogue order
        self.choice_ranks_ = {a: text_rank(unique[a]) for a in self.catalog_.categorical_attrs}
        names = relation_names(
            self.catalog_.pair_feature_names(), list(self.choice_ranks_), self.x_numeric_
        )
        o, j = self._frame_items(offers)
        self.choice_ = CustomerChoice().fit(
            names,
            self.relations(o, j, self._frame_pairs(o, j), self._frame_x_numeric(offers), names),
            offers["customer_id"].to_numpy(),
            offers["ts"].to_numpy(),
            offers["accepted"].to_numpy(),
        )
        self.feature_names_in_ = [
            *self.catalog_.pair_feature_names(),
            *self.history_.feature_names(),
            *self.choice_names(),
            *self.loyalty_names(),
            *self.offer_set_.feature_names_,
            "urgency_days",
            "stock_cover",
            *self.x_numeric_,
            *self.x_vocab_,
            *(f"customer_{c}" for c in self.customer_vocab_),
        ]
        self.categorical_features_ = [
            *self.x_vocab_,
            *(f"customer_{c}" for c in self.customer_vocab_),
        ]
        return self

    # --- pieces shared by the frame path and the request path ----------------------

    def history_keys(
        self,
        offers: pd.DataFrame,
        pair: Mapping[str, np.ndarray] | None = None,
        items: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> pd.DataFrame:
        """The columns the acceptance history is keyed on, from an offers frame.

        ``pair`` and ``items`` (the ``_frame_items`` positions) are recomputed when not given.
        """
        o, j = self._frame_items(offers) if items is None else items
        if pair is None:
            pair = self._frame_pairs(o, j)
        return pd.DataFrame(
            history_keys(
                offers["customer_id"].astype(str).to_numpy(),
                offers["original_item_id"].astype(str).to_numpy(),
                offers["offered_item_id"].astype(str).to_numpy(),
                pair,
                self.taste_.keys(o, j),
            )
        )

    def _frame_items(self, offers: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Catalogue positions of the original and offered items (-1: not in the master)."""
        catalog = self.catalog_
        return catalog.lookup(offers["original_item_id"]), catalog.lookup(offers["offered_item_id"])

    def _frame_pairs(self, o: np.ndarray, j: np.ndarray) -> dict[str, np.ndarray]:
        """Pair features of a frame; rows with an item unknown to the master are all-missing."""
        known = (o >= 0) & (j >= 0)
        pair = self.catalog_.pair_features(np.where(known, o, 0), np.where(known, j, 0))
        return {k: np.where(known, v, np.nan) for k, v in pair.items()}

    def _frame_x_numeric(self, offers: pd.DataFrame) -> dict[str, np.ndarray]:
        n = len(offers)
        return {
            c: offers[c].to_numpy(dtype=float) if c in offers.columns else np.full(n, np.nan)
            for c in self.x_numeric_
        }

    def relations(
        self,
        o: np.ndarray,
        j: np.ndarray,
        pair: Mapping[str, np.ndarray],
        x_numeric: Mapping[str, np.ndarray],
        names: list[str] | None = None,
    ) -> np.ndarray:
        """The customer choice model's relation matrix of offers (catalogue positions ``o``,
        ``j``, -1 unknown; ``names``: the fitted ones)."""
        known = (o >= 0) & (j >= 0)
        steps = order_steps(self.choice_ranks_, np.maximum(o, 0), np.maximum(j, 0))
        steps = {k: np.where(known, v, np.nan) for k, v in steps.items()}
        names = self.choice_.names_ if names is None else names
        return relation_matrix(names, {**pair, **steps}, x_numeric)

    def choice_names(self) -> list[str]:
        return [] if self.choice_ is None else list(CHOICE_FEATURES)

    def loyalty_names(self) -> list[str]:
        return [] if self.loyalty_ is None else list(self.loyalty_.feature_names_)

    def customer_codes(self, customer_id: str) -> list[float]:
        return [
            float(self.customer_codes_[c].get(customer_id, np.nan)) for c in self.customer_vocab_
        ]

    def x_values(self, context: Mapping[str, object] | None, n: int) -> list[np.ndarray]:
        """``x_*`` context of one request, numeric as float and text as vocabulary code."""
        context = context or {}
        cols: list[np.ndarray] = []
        for col in self.x_numeric_:
            value = context.get(col)
            try:
                v = float(value) if value is not None else np.nan
            except (TypeError, ValueError):
                v = np.nan
            cols.append(np.full(n, v))
        for col, vocab in self.x_vocab_.items():
            value = context.get(col)
            cols.append(np.full(n, float(vocab.get(str(value), np.nan))))
        return cols

    def assemble(
        self,
        pair: Mapping[str, np.ndarray],
        history: Mapping[str, np.ndarray],
        choice: Mapping[str, np.ndarray],
        loyalty: Mapping[str, np.ndarray],
        offer_set: Mapping[str, np.ndarray],
        urgency_days: np.ndarray,
        stock_cover: np.ndarray,
        x_columns: list[np.ndarray],
        customer_columns: list[np.ndarray],
    ) -> np.ndarray:
        """The model matrix, columns in ``feature_names_in_`` order."""
        columns = [
            *(pair[name] for name in self.catalog_.pair_feature_names()),
            *(history[name] for name in self.history_.feature_names()),
            *(choice[name] for name in self.choice_names()),
            *(loyalty[name] for name in self.loyalty_names()),
            *(offer_set[name] for name in self.offer_set_.feature_names_),
            urgency_days,
            np.minimum(stock_cover, STOCK_COVER_CLIP),
            *x_columns,
            *customer_columns,
        ]
        return np.column_stack(columns).astype(float, copy=False)

    # --- the frame path (training, evaluation, pyfunc predict) ---------------------

    def transform(
        self,
        offers: pd.DataFrame,
        point_in_time: bool = False,
        orders: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Features of logged or candidate offers.

        ``point_in_time=True`` computes each offer's history from the earlier offers of
        ``offers`` itself and its purchase loyalty from the earlier lines of ``orders``
        (training); otherwise the fitted history and purchase state are used as of now
        (scoring new candidate pairs).
        """
        missing = [
            c
            for c in ("customer_id", "original_item_id", "offered_item_id", "ts")
            if c not in offers.columns
        ]
        if missing:
            raise ValueError(f"offers lacks required column(s) {missing}")
        if point_in_time and self.loyalty_ is not None and orders is None:
            raise ValueError("point-in-time features need the orders the loyalty was fitted on")
        n = len(offers)
        items = self._frame_items(offers)
        pair = self._frame_pairs(*items)
        keys = self.history_keys(offers, pair, items)
        if point_in_time:
            history = self.history_.point_in_time(keys, offers["ts"], offers["accepted"])
        else:
            history = self.history_.current(keys)
        loyalty = self._frame_loyalty(offers, items, orders if point_in_time else None)
        ts = offers["ts"].to_numpy(dtype="datetime64[ns]")
        if "need_by" in offers.columns:
            need_by = pd.to_datetime(offers["need_by"]).to_numpy(dtype="datetime64[ns]")
            urgency = (need_by - ts) / np.timedelta64(1, "D")
        else:
            urgency = np.full(n, np.nan)
        if "available" in offers.columns and "qty" in offers.columns:
            qty = offers["qty"].to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                cover = offers["available"].to_numpy(dtype=float) / qty
            cover = np.where(qty > 0, cover, np.nan)
        else:
            cover = np.full(n, np.nan)
        x_numeric = self._frame_x_numeric(offers)
        choice = self._frame_choice(offers, items, pair, x_numeric, point_in_time)
        x_cols = list(x_numeric.values())
        for col, vocab in self.x_vocab_.items():
            raw = offers[col] if col in offers.columns else pd.Series([None] * n)
            x_cols.append(np.array([vocab.get(str(v), np.nan) for v in raw], dtype=float))
        offer_set = self._frame_offer_set(offers, pair, items[1], loyalty, x_numeric, point_in_time)
        cust = offers["customer_id"].astype(str)
        customer_cols = [
            cust.map(self.customer_codes_[c]).to_numpy(dtype=float) for c in self.customer_vocab_
        ]
        matrix = self.assemble(
            pair, history, choice, loyalty, offer_set, urgency, cover, x_cols, customer_cols
        )
        return pd.DataFrame(matrix, columns=self.feature_names_in_, index=offers.index)

    def _frame_choice(
        self,
        offers: pd.DataFrame,
        items: tuple[np.ndarray, np.ndarray],
        pair: Mapping[str, np.ndarray],
        x_numeric: Mapping[str, np.ndarray],
        point_in_time: bool,
    ) -> dict[str, np.ndarray]:
        """Customer choice features of offers: before each offer's ts, or as of now."""
        if self.choice_ is None:
            return {}
        R = self.relations(*items, pair, x_numeric)
        customer = offers["customer_id"].astype(str).to_numpy()
        if point_in_time:
            margin = self.choice_.point_in_time(
                R, customer, offers["ts"].to_numpy(), offers["accepted"].to_numpy()
            )
        else:
            margin = np.zeros(len(offers))
            for c, rows in pd.Series(customer).groupby(customer, sort=False).indices.items():
                margin[rows] = self.choice_.current(str(c), R[rows])
        return choice_features(margin, offer_set_ids(offers))

    def loyalty_frame(
        self, offers: pd.DataFrame, orders: pd.DataFrame | None = None
    ) -> dict[str, np.ndarray]:
        """Purchase-loyalty columns of offers, with the habit baseline's (point in time when
        ``orders`` is given, else from the fitted state); empty without purchase history."""
        return self._frame_loyalty(offers, self._frame_items(offers), orders)

    def _frame_loyalty(
        self,
        offers: pd.DataFrame,
        items: tuple[np.ndarray, np.ndarray],
        orders: pd.DataFrame | None,
    ) -> dict[str, np.ndarray]:
        if self.loyalty_ is None:
            return {}
        o, j = items
        customer = offers["customer_id"].astype(str).to_numpy()
        if orders is not None:
            cutoff = offers["ts"].to_numpy(dtype="datetime64[ns]")
            if "order_ts" in offers.columns:
                at_order = pd.to_datetime(offers["order_ts"]).to_numpy(dtype="datetime64[ns]")
                cutoff = np.where(np.isnat(at_order), cutoff, at_order)
            return self.loyalty_.point_in_time(orders, customer, o, j, cutoff)
        out: dict[str, np.ndarray] = {}
        frame = pd.DataFrame({"c": customer, "o": o})
        for (c, oi), rows in frame.groupby(["c", "o"], sort=False).indices.items():
            part = self.loyalty_.current(str(c), int(oi), j[rows])
            for name, values in part.items():
                out.setdefault(name, np.full(len(offers), np.nan))[rows] = values
        unknown = (o < 0) | (j < 0)
        return {name: np.where(unknown, np.nan, v) for name, v in out.items()}

    def _frame_offer_set(
        self,
        offers: pd.DataFrame,
        pair: Mapping[str, np.ndarray],
        j: np.ndarray,
        loyalty: Mapping[str, np.ndarray],
        x_numeric: Mapping[str, np.ndarray],
        logged: bool,
    ) -> dict[str, np.ndarray]:
        """Offer-set features; the set of a candidate frame is its (customer, item, ts).

        Candidate pairs (``logged=False``) without prices or position are priced at the
        list-price ratio and scored as shown first, as the request path does.
        """
        n = len(offers)
        list_price = np.where(j >= 0, self.catalog_.list_price[np.maximum(j, 0)], np.nan)
        price, ratio = list_price, np.full(n, np.nan)
        if self.offer_set_.has_prices_ and "offered_unit_price" in offers.columns:
            offered = offers["offered_unit_price"].to_numpy(dtype=float)
            price = np.where(np.isfinite(offered), offered, list_price)
            if "original_unit_price" in offers.columns:
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = offered / offers["original_unit_price"].to_numpy(dtype=float)
        if not logged:
            ratio = np.where(np.isfinite(ratio), ratio, np.exp(pair["log_price_ratio"]))
        position = (
            offers["position"].to_numpy(dtype=float)
            if "position" in offers.columns
            else np.full(n, np.nan)
        )
        if not logged:
            position = np.where(np.isfinite(position), position, SERVING_POSITION)
        return self.offer_set_.transform(
            offer_set_ids(offers),
            price,
            ratio,
            loyalty,
            x_numeric,
            position,
        )
