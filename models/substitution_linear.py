"""The linear base of the acceptance model: a logistic regression the trees boost from.

With a few thousand training offers (a world whose customers are seen about once) shallow
trees are data-starved where a parametric model is not: the acceptance utility is close to
additive in the pair columns, with slopes that differ by customer segment (a price-sensitive
segment reads a dearer offer differently). :class:`LinearBase` is that model, built from the
feature matrix alone (generic: no column is named):

- every numeric feature standardised (training mean and standard deviation, clipped at
  ±``Z_CLIP``; missing → 0, the mean), its absolute value standardised the same way (a
  closeness that matters in either direction, e.g. a size difference), and a missing flag for
  each feature that is missing in training;
- one indicator per value of every categorical feature (its ``MAX_LEVELS`` most frequent
  training values; unknown → no indicator), and each indicator × every standardised numeric
  feature: the segment's own slopes;
- an L2-penalised logistic regression (``C``) on the training offers.

The trees are then fitted on top of its score (LightGBM ``init_score``), so the model's margin
is ``linear(x) + trees(x)``.

**Exact contributions.** Every design column ``t_m`` is a function of one feature, or of one
categorical and one numeric feature (the interactions). Its part of the linear score is
``coef_m · t_m = coef_m · (t_m − mean_m) + coef_m · mean_m``: the centred term is the
contribution (``coef × (x − mean)``), given to its feature — an interaction's half to each
of its two features — and the constants go to the bias. The contributions therefore sum to
the linear score exactly, and added to the trees' TreeSHAP of the same features they sum to
the model's margin exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

Z_CLIP = 5.0
MAX_LEVELS = 12
DEFAULT_C = 0.01


class LinearBase:
    """Logistic regression on a generic expansion of the model matrix (see the module)."""

    def __init__(self, C: float = DEFAULT_C, max_iter: int = 2000) -> None:
        self.C = C
        self.max_iter = max_iter

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        feature_names: Sequence[str],
        categorical_features: Sequence[str] = (),
    ) -> LinearBase:
        X = np.asarray(X, dtype=float)
        names = list(feature_names)
        if X.ndim != 2 or X.shape[1] != len(names):
            raise ValueError(f"X must have {len(names)} columns, got {X.shape}")
        categorical = set(categorical_features)
        self.n_features_ = len(names)
        self.numeric_ = np.array([k for k, n in enumerate(names) if n not in categorical], int)
        self.categorical_ = np.array([k for k, n in enumerate(names) if n in categorical], int)
        A = X[:, self.numeric_]
        with np.errstate(invalid="ignore"):
            self.mean_ = _nan_stat(np.nanmean, A)
            self.sd_ = _scale(_nan_stat(np.nanstd, A))
            self.abs_mean_ = _nan_stat(np.nanmean, np.abs(A))
            self.abs_sd_ = _scale(_nan_stat(np.nanstd, np.abs(A)))
        self.missing_ = np.nonzero(np.isnan(A).any(axis=0))[0]  # positions in numeric_
        levels: list[tuple[int, float]] = []
        for k in self.categorical_:
            values, counts = np.unique(X[~np.isnan(X[:, k]), k], return_counts=True)
            top = values[np.argsort(-counts, kind="stable")][:MAX_LEVELS]
            levels += [(int(k), float(v)) for v in sorted(top)]
        self.levels_ = levels
        design = self._design(X)
        self.design_mean_ = design.mean(axis=0)
        y = np.asarray(y, dtype=float)
        model = LogisticRegression(C=self.C, max_iter=self.max_iter)
        model.fit(design, y)
        self.coef_ = model.coef_[0].astype(float)
        self.intercept_ = float(model.intercept_[0])
        self.owners_ = self._owners()
        return self

    def _design(self, X: np.ndarray) -> np.ndarray:
        A = X[:, self.numeric_]
        with np.errstate(invalid="ignore"):
            z = np.clip(np.nan_to_num((A - self.mean_) / self.sd_, nan=0.0), -Z_CLIP, Z_CLIP)
            za = np.abs(A)
            za = np.clip(
                np.nan_to_num((za - self.abs_mean_) / self.abs_sd_, nan=0.0), -Z_CLIP, Z_CLIP
            )
        flags = np.isnan(A[:, self.missing_]).astype(float)
        onehot = np.column_stack(
            [X[:, k] == v for k, v in self.levels_] or [np.zeros((len(X), 0))]
        ).astype(float)
        inter = (onehot[:, :, None] * z[:, None, :]).reshape(len(X), -1)
        return np.concatenate([z, za, flags, onehot, inter], axis=1)

    def _owners(self) -> np.ndarray:
        """(n_design, 2) feature index of each design column's halves (both equal when one
        feature owns it)."""
        num = self.numeric_
        own = (
            [(j, j) for j in num]
            + [(j, j) for j in num]
            + [(num[m], num[m]) for m in self.missing_]
        )
        own += [(k, k) for k, _ in self.levels_]
        own += [(k, j) for k, _ in self.levels_ for j in num]
        return np.array(own, dtype=int).reshape(-1, 2)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """The linear log-odds score."""
        return self._design(np.asarray(X, dtype=float)) @ self.coef_ + self.intercept_

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Exact per-feature contributions plus the bias column; rows sum to the score."""
        design = self._design(np.asarray(X, dtype=float))
        centred = (design - self.design_mean_) * self.coef_
        out = np.zeros((len(design), self.n_features_ + 1))
        half = 0.5 * centred
        np.add.at(out.T, self.owners_[:, 0], half.T)
        np.add.at(out.T, self.owners_[:, 1], half.T)
        out[:, -1] = self.intercept_ + float(self.design_mean_ @ self.coef_)
        return out


def _nan_stat(stat: object, A: np.ndarray) -> np.ndarray:
    if A.shape[0] == 0:
        return np.zeros(A.shape[1])
    out = stat(A, axis=0)  # type: ignore[operator]
    return np.where(np.isnan(out), 0.0, out)


def _scale(sd: np.ndarray) -> np.ndarray:
    return np.where(sd > 0, sd, 1.0)
