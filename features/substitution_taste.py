"""Customer taste: how a substitute relates to the original, per attribute.

Customers differ in how they react to the same change — one welcomes a better grade,
another trades down; one insists on the same material, another does not care — and
their directions can be opposite, so a population-level feature (``attr_grade_same``)
averages the tastes away. Each *relation* below is one more key of the acceptance
history: the customer's smoothed acceptance rate among earlier offers in the same
cell (point in time in training, a dictionary lookup in serving).

Relations, derived from the contract only (``attr_*`` names and values are arbitrary):

- every categorical ``attr_*``: same vs different value, and the value offered (the
  ``MAX_VALUES`` most frequent values of the item master; rarer ones share one cell);
- every numeric ``attr_*`` and ``pack_size``: offered value higher, lower or equal.

Brand (same vs switch) and price (dearer vs cheaper) already have their statistics in
:mod:`features.substitution_history`. At most ``MAX_CATEGORICAL`` and ``MAX_NUMERIC``
attribute columns are used (in name order), so a wide item master stays a bounded
feature set. A relation that cannot be known (either item lacks the value) is the
``UNKNOWN`` key and its feature is missing.
"""

from __future__ import annotations

import numpy as np

from features.substitution_catalog import ItemCatalog
from features.substitution_history import UNKNOWN, Statistic

MAX_CATEGORICAL = 8
MAX_NUMERIC = 8
MAX_VALUES = 12
OTHER_VALUE = "other"


def _direction(x: np.ndarray, o: np.ndarray, j: np.ndarray) -> np.ndarray:
    a, b = x[o], x[j]
    out = np.where(b > a, "+", np.where(b < a, "-", "="))
    return np.where(np.isfinite(a) & np.isfinite(b), out, UNKNOWN).astype(object)


class TasteRelations:
    """Relation keys of (original, offered) item pairs; ``fit`` reads the item catalogue."""

    def fit(self, catalog: ItemCatalog) -> TasteRelations:
        self.categorical_ = sorted(catalog.categorical_attrs)[:MAX_CATEGORICAL]
        self.numeric_ = sorted(catalog.numeric_attrs)[:MAX_NUMERIC]
        self.codes_ = {c: catalog.categorical_attrs[c] for c in self.categorical_}
        self.values_: dict[str, np.ndarray] = {}
        for col, codes in self.codes_.items():
            known = codes[codes >= 0]
            counts = np.bincount(known) if len(known) else np.zeros(0, dtype=np.int64)
            # Most frequent first, ties by code: deterministic for a given item master.
            kept = np.argsort(-counts, kind="stable")[:MAX_VALUES]
            labels = np.full(len(counts) + 1, OTHER_VALUE, dtype=object)
            labels[kept] = kept.astype(str)
            labels[-1] = UNKNOWN  # code -1: missing value
            self.values_[col] = labels[codes]
        self.numbers_ = {c: catalog.numeric_attrs[c] for c in self.numeric_}
        if catalog.pack_size is not None:
            self.numbers_["pack_size"] = catalog.pack_size
        return self

    def names(self) -> list[str]:
        """Relation key names, in feature order."""
        names = []
        for col in self.categorical_:
            names += [f"{col}_same", f"{col}_value"]
        return names + [f"{col}_direction" for col in self.numbers_]

    def statistics(self) -> list[Statistic]:
        """The customer's acceptance per relation cell, shrunk toward the customer's rate."""
        return [
            Statistic(f"customer_{name}", ("customer", name), "customer", False, "taste")
            for name in self.names()
        ]

    def keys(self, o: np.ndarray, j: np.ndarray) -> dict[str, np.ndarray]:
        """Relation keys of originals ``o`` and offered items ``j`` (-1: not in the master)."""
        known = (o >= 0) & (j >= 0)
        o, j = np.where(known, o, 0), np.where(known, j, 0)
        out: dict[str, np.ndarray] = {}
        for col in self.categorical_:
            a, b = self.codes_[col][o], self.codes_[col][j]
            same = np.where(a == b, "1", "0")
            out[f"{col}_same"] = np.where((a < 0) | (b < 0), UNKNOWN, same).astype(object)
            out[f"{col}_value"] = self.values_[col][j]
        for col, x in self.numbers_.items():
            out[f"{col}_direction"] = _direction(x, o, j)
        if not known.all():
            for name in out:
                out[name] = np.where(known, out[name], UNKNOWN).astype(object)
        return out
