"""Drift of served features against the training reference, with a known false-alarm rate.

The reference is each feature's binned distribution on the training lines (quantile bin
edges and counts; a feature with few distinct values keeps its values as categories, the
rarest folded into one "other" bin; a missing-value bin always). It is stored with the
model (``monitoring_reference.json``) and read back by :meth:`Reference.from_dict`.

A day of served lines is tested per feature by the chi-square test of homogeneity of the
2 × bins table (the day's counts against the reference's, so the reference's own sample
size is accounted for), ``bins − 1`` degrees of freedom. Order lines of one day are not
independent draws: a day-level feature (the warehouse's load today, a carrier's recent
late rate) has the same value on hundreds of lines. So the statistic is divided by the
feature's **dispersion**, measured at fit time as the median of the same statistic over
the training days themselves (each day against the reference without it) over the
median of χ²(bins − 1): the null is that a day looks like a training day, at that day's
sample size. p-values are Benjamini–Hochberg adjusted across the features of each day,
and a feature-day alarms only when the adjusted p is ≤ ``q`` *and* the effect size (PSI)
is at least ``min_psi``, so that huge samples do not alarm on trivial shifts. PSI and
the Jensen–Shannon distance are reported as effect sizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

DEFAULT_BINS = 10
MAX_CATEGORIES = 12  # a feature with at most this many distinct values is categorical
MIN_BIN_SHARE = 0.005  # rarer reference bins are folded into a neighbour
EPS = 1e-4  # share floor for PSI/JS (empty bins)
REFERENCE_VERSION = 1
REFERENCE_DAYS = 90  # the reference is the last this many days of the training lines
SPAN_DAYS = 1  # days of lines each test looks at (7 was tried: more slow-trend alarms)
MIN_NULL_DAYS = 14  # days of earlier history needed to measure dispersion forwards
NULL_QUANTILE = 0.9  # the dispersion matches this quantile of the days' statistics
MIN_DAY_LINES = 30  # a day with fewer lines is neither tested nor used for dispersion


@dataclass
class FeatureReference:
    """One feature's reference: numeric (``edges``) or categorical (``values``)."""

    name: str
    counts: np.ndarray  # per bin, the last bin holds missing values
    edges: np.ndarray | None = None  # interior edges (numeric): len(counts) - 2 of them
    values: np.ndarray | None = None  # category values (categorical); "other" bin after them
    dispersion: float = 1.0

    @property
    def bins(self) -> int:
        return len(self.counts)

    def histogram(self, x: np.ndarray) -> np.ndarray:
        """Counts of ``x`` over this feature's bins (missing last)."""
        x = np.asarray(x, dtype=float)
        missing = np.isnan(x)
        out = np.zeros(self.bins, dtype=float)
        out[-1] = missing.sum()
        present = x[~missing]
        if self.edges is not None:
            which = np.searchsorted(self.edges, present, side="right")
        elif self.values is None or len(self.values) == 0:
            which = np.zeros(len(present), dtype=np.int64)  # every value is "other"
        else:
            pos = np.searchsorted(self.values, present)
            pos = np.minimum(pos, len(self.values) - 1)
            which = np.where(self.values[pos] == present, pos, len(self.values))
        out[: self.bins - 1] += np.bincount(which, minlength=self.bins - 1)[: self.bins - 1]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "counts": self.counts.tolist(),
            "edges": None if self.edges is None else self.edges.tolist(),
            "values": None if self.values is None else self.values.tolist(),
            "dispersion": self.dispersion,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureReference:
        return cls(
            name=str(data["name"]),
            counts=np.asarray(data["counts"], dtype=float),
            edges=None if data.get("edges") is None else np.asarray(data["edges"], dtype=float),
            values=None if data.get("values") is None else np.asarray(data["values"], dtype=float),
            dispersion=float(data.get("dispersion", 1.0)),
        )


@dataclass
class Reference:
    """The training reference of every monitored feature of one model version."""

    features: dict[str, FeatureReference]
    n_lines: int
    period: tuple[str, str] | None = None  # first and last training day
    skipped: dict[str, str] = field(default_factory=dict)  # feature → why not monitored
    span: int = 1  # days of lines each test looks at (the day and the span − 1 before)
    calibration: dict[str, float] = field(default_factory=dict)  # segment → dispersion

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": REFERENCE_VERSION,
            "n_lines": self.n_lines,
            "period": list(self.period) if self.period else None,
            "features": [f.to_dict() for f in self.features.values()],
            "skipped": self.skipped,
            "span": self.span,
            "calibration": self.calibration,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reference:
        if data.get("version") != REFERENCE_VERSION:
            raise ValueError(
                f"monitoring reference: version {data.get('version')!r} is not "
                f"{REFERENCE_VERSION}; retrain the model to rebuild it"
            )
        features = [FeatureReference.from_dict(f) for f in data["features"]]
        period = data.get("period")
        return cls(
            features={f.name: f for f in features},
            n_lines=int(data["n_lines"]),
            period=tuple(period) if period else None,
            skipped=dict(data.get("skipped") or {}),
            span=int(data.get("span", 1)),
            calibration={k: float(v) for k, v in (data.get("calibration") or {}).items()},
        )


def fit_feature(name: str, x: np.ndarray, bins: int = DEFAULT_BINS) -> FeatureReference:
    """The binned reference of one feature from its training values."""
    x = np.asarray(x, dtype=float)
    present = x[~np.isnan(x)]
    distinct = np.unique(present)
    if len(distinct) <= MAX_CATEGORIES:
        values = distinct
        counts = np.array([(present == v).sum() for v in values], dtype=float)
        keep = counts >= MIN_BIN_SHARE * max(len(x), 1)
        ref = FeatureReference(name, np.zeros(keep.sum() + 2), values=values[keep])
    else:
        qs = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])
        edges = _spread(np.unique(qs), present)
        ref = FeatureReference(name, np.zeros(len(edges) + 2), edges=edges)
    ref.counts = ref.histogram(x)
    return ref


def _spread(edges: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Drop interior edges that leave a bin with less than ``MIN_BIN_SHARE`` of the values."""
    kept: list[float] = []
    n = len(present)
    ordered = np.sort(present)
    last = 0
    for edge in edges:
        at = int(np.searchsorted(ordered, edge, side="right"))
        if at - last >= MIN_BIN_SHARE * n and n - at >= MIN_BIN_SHARE * n:
            kept.append(float(edge))
            last = at
    return np.asarray(kept, dtype=float)


def fit_reference(
    X: np.ndarray,
    names: Sequence[str],
    days: np.ndarray,
    *,
    skip: Mapping[str, str] | None = None,
    bins: int = DEFAULT_BINS,
    window_days: int = REFERENCE_DAYS,
    span: int = SPAN_DAYS,
) -> Reference:
    """Reference of every column of ``X`` (training lines) except those in ``skip``.

    ``days`` (one ISO day per row) place the lines in time. The reference is the last
    ``window_days`` days: what normal looked like when the model was trained. The
    dispersion of each feature is measured forwards, as monitoring will use it: each day
    of that window against the ``window_days`` before it (or, with less history, against
    the rest of the window), the median statistic over the median of χ²(bins − 1). The
    null is thus "a later day of unchanged history", with the evolution a feature shows
    over a window's length (a history count grows) inside it.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != len(names):
        raise ValueError(f"X has shape {X.shape}, expected (lines, {len(names)})")
    day = np.asarray(days).astype("datetime64[D]")
    if len(day) != len(X):
        raise ValueError(f"days has {len(day)} values, X {len(X)} rows")
    if len(day) == 0:
        raise ValueError("X has no rows: no training lines to build a reference from")
    end = day.max() + 1
    window = day >= end - window_days
    earlier = (day < end - window_days) & (day >= end - 2 * window_days)
    if len(np.unique(day[earlier])) < MIN_NULL_DAYS:
        earlier = None
    skip = dict(skip or {})
    day_values = np.unique(day[window])
    day_number = day[window].astype(np.int64)
    features: dict[str, FeatureReference] = {}
    for j, name in enumerate(names):
        if name in skip:
            continue
        ref = fit_feature(name, X[window, j], bins)
        if ref.bins < 3 and ref.counts[-1] == 0:
            skip[name] = "constant on the training lines"
            continue
        base = None if earlier is None else ref.histogram(X[earlier, j])
        ref.dispersion = _dispersion(ref, X[window, j], day_number, span, base)
        features[name] = ref
    period = (str(day_values[0]), str(day_values[-1]))
    return Reference(features, int(window.sum()), period, skip, span)


def _dispersion(
    ref: FeatureReference, x: np.ndarray, day: np.ndarray, span: int, base: np.ndarray | None
) -> float:
    """The dispersion of one feature: the ``NULL_QUANTILE`` of the statistics of every
    ``span``-day stretch of the window (against ``base``, or the window without it), each
    over the same quantile of χ²(dof)."""
    order = np.argsort(day, kind="stable")
    x, day = x[order], day[order]
    statistics = []
    for last in np.unique(day):
        if last - day[0] < span - 1:
            continue  # a shorter stretch than monitoring tests
        lo, hi = np.searchsorted(day, [last - span + 1, last + 1])
        if hi - lo < MIN_DAY_LINES:
            continue
        counts = ref.histogram(x[lo:hi])
        statistic, dof = homogeneity(counts, ref.counts - counts if base is None else base)
        if dof > 0:
            statistics.append(statistic / stats.chi2.ppf(NULL_QUANTILE, dof))
    if not statistics:
        return 1.0
    return max(1.0, float(np.quantile(statistics, NULL_QUANTILE)))


def homogeneity(day: np.ndarray, reference: np.ndarray) -> tuple[float, int]:
    """Pearson's χ² of the 2 × bins table (bins empty in both dropped) and its dof."""
    table = np.vstack([day, reference]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or table[0].sum() == 0 or table[1].sum() == 0:
        return 0.0, 0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    return float(((table - expected) ** 2 / expected).sum()), table.shape[1] - 1


def psi(day: np.ndarray, reference: np.ndarray) -> float:
    """Population stability index Σ (p − q) ln(p / q), shares floored at ``EPS``."""
    p, q = _shares(day), _shares(reference)
    return float(np.sum((p - q) * np.log(p / q)))


def jensen_shannon(day: np.ndarray, reference: np.ndarray) -> float:
    """Jensen–Shannon distance (base 2, in [0, 1])."""
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(_shares(day), _shares(reference), base=2))


def _shares(counts: np.ndarray) -> np.ndarray:
    shares = np.maximum(np.asarray(counts, dtype=float) / max(counts.sum(), 1.0), EPS)
    return shares / shares.sum()


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (monotone step-up), NaN kept as NaN."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    values = p[ok]
    m = len(values)
    if m == 0:
        return out
    order = np.argsort(values)
    ranked = values[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    result = np.empty(m)
    result[order] = np.minimum(adjusted, 1.0)
    out[ok] = result
    return out


@dataclass(frozen=True)
class DriftRow:
    """One feature on one day: the test and the effect sizes."""

    day: str
    feature: str
    n: int
    statistic: float
    dof: int
    p_value: float
    p_adjusted: float
    psi: float
    js: float
    alarm: bool

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def test_day(
    reference: Reference,
    X: np.ndarray,
    names: Sequence[str],
    day: str,
    *,
    q: float = 0.01,
    min_psi: float = 0.02,
    min_lines: int = MIN_DAY_LINES,
) -> list[DriftRow]:
    """Every monitored feature on one day's lines ``X`` (columns named by ``names``).

    A day with fewer than ``min_lines`` lines is not tested (returns no rows).
    """
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1), got {q}")
    X = np.asarray(X, dtype=float)
    if len(X) < min_lines:
        return []
    column = {name: j for j, name in enumerate(names)}
    rows: list[tuple[str, float, int, float, float, float]] = []
    for name, ref in reference.features.items():
        if name not in column:
            continue
        counts = ref.histogram(X[:, column[name]])
        statistic, dof = homogeneity(counts, ref.counts)
        p = float(stats.chi2.sf(statistic / ref.dispersion, dof)) if dof > 0 else 1.0
        rows.append(
            (name, statistic, dof, p, psi(counts, ref.counts), jensen_shannon(counts, ref.counts))
        )
    adjusted = benjamini_hochberg(np.array([r[3] for r in rows]))
    return [
        DriftRow(
            day=day,
            feature=name,
            n=len(X),
            statistic=statistic,
            dof=dof,
            p_value=p,
            p_adjusted=float(adj),
            psi=effect,
            js=js,
            alarm=bool(adj <= q and effect >= min_psi),
        )
        for (name, statistic, dof, p, effect, js), adj in zip(rows, adjusted, strict=True)
    ]


def calibration_z(
    miss: np.ndarray, p: np.ndarray, weight: np.ndarray | None = None
) -> tuple[float, float]:
    """Observed minus expected misses over their null standard deviation, and the gap
    in miss rate: a calibrated model's lines miss with probability ``p`` each. With
    ``weight`` (the audit slice's inverse inclusion probabilities) both are the weighted
    sums': Σ w (miss − p) / √Σ w² p (1 − p) and Σ w (miss − p) / Σ w."""
    miss, p = np.asarray(miss, dtype=float), np.asarray(p, dtype=float)
    w = np.ones_like(p) if weight is None else np.asarray(weight, dtype=float)
    variance = float(np.sum(w**2 * p * (1.0 - p)))
    if len(p) == 0 or variance <= 0:
        return 0.0, 0.0
    gap = float(np.sum(w * (miss - p)))
    return gap / np.sqrt(variance), gap / float(w.sum())


def calibration_dispersion(z: np.ndarray) -> float:
    """How much wider than N(0, 1) the z of unchanged segment-days are (≥ 1): outcomes of
    one carrier on one day share its trucks' luck, they are not independent coin flips."""
    z = np.asarray(z, dtype=float)
    z = z[~np.isnan(z)]
    if len(z) < MIN_NULL_DAYS:
        return 1.0
    return max(1.0, float(np.quantile(z**2, NULL_QUANTILE) / stats.chi2.ppf(NULL_QUANTILE, 1)))
