"""The item master as numpy arrays, and how close an offered item is to the original.

Every ``attr_*`` column of ``items`` counts (numeric → difference in standard deviations,
text → same/different), with the optional ``brand`` and ``pack_size`` and the required
``list_price``; an absent column simply yields fewer features. Built once at training,
read per request (index arrays in, arrays out), so training and serving share the code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# A numeric attribute difference of more than this many standard deviations is "far".
DIFF_CLIP = 3.0


def _codes(values: pd.Series) -> tuple[np.ndarray, dict[str, int]]:
    """Integer codes (-1 for missing) and the vocabulary that maps text back to them."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    return codes.astype(np.int64), {str(u): k for k, u in enumerate(uniques)}


def _safe_log_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(a / b)
    return np.where(np.isfinite(out), out, np.nan)


@dataclass
class ItemCatalog:
    """Item master as numpy arrays indexed by item position (built once, read per request)."""

    item_ids: np.ndarray
    index: dict[str, int]
    category: np.ndarray
    list_price: np.ndarray
    unit_cost: np.ndarray
    active: np.ndarray
    brand: np.ndarray | None
    pack_size: np.ndarray | None
    numeric_attrs: dict[str, np.ndarray]  # already divided by the column's spread
    categorical_attrs: dict[str, np.ndarray]  # codes, -1 when missing

    @classmethod
    def from_items(cls, items: pd.DataFrame) -> ItemCatalog:
        items = items.drop_duplicates("item_id").reset_index(drop=True)
        ids = items["item_id"].astype(str).to_numpy(dtype=object)
        category, _ = _codes(items["category"])
        numeric: dict[str, np.ndarray] = {}
        categorical: dict[str, np.ndarray] = {}
        for col in sorted(c for c in items.columns if str(c).startswith("attr_")):
            s = items[col]
            if pd.api.types.is_numeric_dtype(s):
                x = s.to_numpy(dtype=float)
                spread = np.nanstd(x) if np.isfinite(x).sum() > 1 else 0.0
                numeric[col] = x / (spread if spread > 0 else 1.0)
            else:
                categorical[col] = _codes(s)[0]
        active = (
            items["active"].fillna(True).astype(bool).to_numpy()
            if "active" in items.columns
            else np.ones(len(items), dtype=bool)
        )
        has_brand = "brand" in items.columns and items["brand"].notna().any()
        has_pack = "pack_size" in items.columns and items["pack_size"].notna().any()
        return cls(
            item_ids=ids,
            index={i: k for k, i in enumerate(ids)},
            category=category,
            list_price=items["list_price"].to_numpy(dtype=float),
            unit_cost=items["unit_cost"].to_numpy(dtype=float),
            active=active,
            brand=_codes(items["brand"])[0] if has_brand else None,
            pack_size=items["pack_size"].to_numpy(dtype=float) if has_pack else None,
            numeric_attrs=numeric,
            categorical_attrs=categorical,
        )

    def __len__(self) -> int:
        return len(self.item_ids)

    def lookup(self, ids: pd.Series | np.ndarray) -> np.ndarray:
        """Positions of item ids; -1 for an item missing from the master."""
        get = self.index.get
        return np.fromiter((get(str(i), -1) for i in ids), dtype=np.int64, count=len(ids))

    def pair_feature_names(self) -> list[str]:
        names = ["same_category", "log_price_ratio"]
        if self.brand is not None:
            names.append("same_brand")
        if self.pack_size is not None:
            names.append("log_pack_ratio")
        names += [f"{c}_diff" for c in self.numeric_attrs]
        names += [f"{c}_same" for c in self.categorical_attrs]
        return [*names, "attribute_distance"]

    @staticmethod
    def _same(codes: np.ndarray, o: np.ndarray, j: np.ndarray) -> np.ndarray:
        a, b = codes[o], codes[j]
        return np.where((a < 0) | (b < 0), np.nan, (a == b).astype(float))

    def pair_features(self, o: np.ndarray, j: np.ndarray) -> dict[str, np.ndarray]:
        """Closeness of offered items ``j`` to originals ``o`` (index arrays, same length)."""
        out: dict[str, np.ndarray] = {
            "same_category": (self.category[o] == self.category[j]).astype(float),
            "log_price_ratio": _safe_log_ratio(self.list_price[j], self.list_price[o]),
        }
        # Distance components: each in "about one unit means clearly different".
        parts = [np.abs(out["log_price_ratio"])]
        if self.brand is not None:
            out["same_brand"] = self._same(self.brand, o, j)
            parts.append(1.0 - out["same_brand"])
        if self.pack_size is not None:
            out["log_pack_ratio"] = _safe_log_ratio(self.pack_size[j], self.pack_size[o])
            parts.append(np.abs(out["log_pack_ratio"]))
        for col, x in self.numeric_attrs.items():
            out[f"{col}_diff"] = np.minimum(np.abs(x[j] - x[o]), DIFF_CLIP)
            parts.append(out[f"{col}_diff"])
        for col, codes in self.categorical_attrs.items():
            out[f"{col}_same"] = self._same(codes, o, j)
            parts.append(1.0 - out[f"{col}_same"])
        stacked = np.vstack(parts)
        counted = np.isfinite(stacked).sum(axis=0)
        with np.errstate(invalid="ignore"):
            out["attribute_distance"] = np.where(
                counted > 0, np.nansum(stacked, axis=0) / np.maximum(counted, 1), np.nan
            )
        return out

    def similarity(self, o: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Attribute similarity (higher is closer): the rule-based ranking and candidate order."""
        d = self.pair_features(o, j)["attribute_distance"]
        return np.where(np.isfinite(d), -d, -np.inf)
