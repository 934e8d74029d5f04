"""Scoring and explaining orders: features → probability → exact SHAP → families → reasons.

:class:`OrderRiskScorer` bundles the fitted feature set, the calibrated classifier and
the margin-erosion detector. Two entry points share every step:

- :meth:`OrderRiskScorer.score_order` — one order's lines (dictionaries) against a
  live :class:`~features.risk_state.RiskState`; numpy arrays and dictionaries only,
  well under a millisecond for a 5-line order (``benchmarks/order_risk.py``);
- :meth:`OrderRiskScorer.explain_arrays` — many lines whose line fields and state
  values were computed over history (batch scoring, evaluation).

The order score is the largest line probability (``max``). The alternative, P(at least
one line misses) under independence ("noisy OR"), overstates the risk: the lines of an
order travel together, so lateness is shared rather than independent. Evaluation
reports both at order level (``evaluation.json`` → ``orders``); ``docs/order-risk.md``
has the figures.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.families import FAMILIES
from features.order_fields import line_fields, record_fields
from features.order_risk import OrderRiskFeatures
from features.risk_state import RiskState, value_arrays
from models.order_risk import ErosionResult, MarginErosionDetector, OrderRiskClassifier
from models.reasons import reason

AGGREGATIONS = ("noisy_or", "max")


def aggregate(p: np.ndarray, how: str = "noisy_or") -> float:
    """Order score from its lines' P(miss): 1 − Π(1 − p) ("noisy_or") or max(p)."""
    if how == "noisy_or":
        return float(1.0 - np.prod(1.0 - np.asarray(p)))
    if how == "max":
        return float(np.max(p))
    raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {how!r}")


@dataclass
class Reason:
    family: str
    contribution: float  # log-odds this family adds to the line's margin
    text: str


@dataclass
class LineRisk:
    order_id: str | None
    line_no: int | None
    item_id: str | None
    probability: float  # calibrated P(miss)
    margin: float  # raw log-odds = expected_value + Σ contributions
    families: dict[str, float]  # per driver family: sums of its features' contributions
    reasons: list[Reason]  # families that raise the risk, largest first
    margin_erosion: bool
    margin_erosion_reason: str | None
    # Per feature, in the model's column order: this line's rows of the order's matrices.
    feature_names: Sequence[str]
    feature_row: np.ndarray
    contribution_row: np.ndarray  # log-odds (exact SHAP)

    @property
    def feature_list(self) -> list[float]:
        return self.feature_row.tolist()

    @property
    def contribution_list(self) -> list[float]:
        return self.contribution_row.tolist()

    @property
    def contributions(self) -> dict[str, float]:
        return dict(zip(self.feature_names, self.contribution_list, strict=True))

    @property
    def feature_values(self) -> dict[str, float]:
        return dict(zip(self.feature_names, self.feature_list, strict=True))


@dataclass
class ScoredOrder:
    order_id: str | None
    score: float  # order-level P(miss), see ``aggregation``
    aggregation: str
    expected_value: float  # SHAP base value (log-odds) shared by every line
    lines: list[LineRisk]
    top_family: str | None  # strongest risk-raising family on the riskiest line
    # (lines, features) float64, the model's column order: what the audit log keeps.
    features: np.ndarray
    contributions: np.ndarray  # exact SHAP, log-odds
    margin_erosion: bool = False
    reasons: list[Reason] = field(default_factory=list)  # the riskiest line's reasons


@dataclass
class BatchScores:
    """Arrays for many lines: what batch scoring writes and evaluation reads."""

    probability: np.ndarray
    margin: np.ndarray
    contributions: np.ndarray  # (n, n_features)
    families: np.ndarray  # (n, n_families)
    features: np.ndarray  # (n, n_features) feature values
    erosion: ErosionResult
    derived: dict[str, np.ndarray]
    inputs: dict[str, np.ndarray]
    ranked: np.ndarray | None = None  # per line, family indices by contribution, largest first
    columns: tuple[Columns, Columns] | None = None  # inputs and derived, as lists (reasons)


class Columns(Mapping[str, list]):
    """Arrays read as Python lists, each converted on first use.

    Reason text reads a handful of values per line: a list gives Python floats, where an
    array index gives NumPy scalars whose arithmetic and formatting cost ~10× more.
    """

    __slots__ = ("_arrays", "_lists")

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self._arrays = arrays
        self._lists: dict[str, list] = {}

    def __getitem__(self, name: str) -> list:
        column = self._lists.get(name)
        if column is None:
            column = self._lists[name] = self._arrays[name].tolist()
        return column

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self._arrays else default

    def __contains__(self, name: object) -> bool:
        return name in self._arrays

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)


class OrderRiskScorer:
    """The fitted parts of the order-risk model, ready to score and explain."""

    def __init__(
        self,
        features: OrderRiskFeatures,
        classifier: OrderRiskClassifier,
        detector: MarginErosionDetector,
        aggregation: str = "max",
        reason_threshold: float = 0.1,
        max_reasons: int = 3,
    ) -> None:
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
        self.features = features
        self.classifier = classifier
        self.detector = detector
        self.aggregation = aggregation
        self.reason_threshold = reason_threshold
        self.max_reasons = max_reasons
        self.feature_names = list(features.feature_names_)
        self.families = [f for f in FAMILIES if f in set(features.families_)]
        self.family_matrix = np.zeros((len(self.feature_names), len(self.families)))
        for k, family in enumerate(features.families_):
            self.family_matrix[k, self.families.index(family)] = 1.0

    def warm_up(self) -> None:
        """Load the compiled explainer kernels now, not on the first request (~0.3 s)."""
        X = np.zeros((1, len(self.feature_names)))
        self.classifier.explain(X)
        self.classifier.decision_function(X)

    @property
    def expected_value(self) -> float:
        return self.classifier.trees_.expected_value

    # --- batch ----------------------------------------------------------------------------

    def explain_arrays(
        self,
        fields: Mapping[str, np.ndarray],
        state_values: Mapping[str, np.ndarray],
        parallel: bool = False,
    ) -> BatchScores:
        derived = self.features.derive(fields, state_values)
        X = self.features.matrix(derived)
        explanation = self.classifier.explain(X, parallel=parallel)
        return BatchScores(
            probability=explanation.probability,
            margin=explanation.margin,
            contributions=explanation.contributions,
            families=explanation.contributions @ self.family_matrix,
            features=X,
            erosion=self.detector.detect(derived, state_values),
            derived=derived,
            inputs={**fields, **state_values},
        )

    def reasons(self, scores: BatchScores, k: int) -> list[Reason]:
        """Reasons for line ``k`` of a batch: risk-raising families, largest first."""
        inputs, derived = _columns(scores)
        if scores.ranked is None:  # one sort for every line of the batch
            scores.ranked = np.argsort(-scores.families, axis=1, kind="stable")
        row = scores.families[k]
        out = []
        for j in scores.ranked[k, : self.max_reasons].tolist():
            contribution = float(row[j])
            if contribution < self.reason_threshold:
                break  # ranked: the rest are smaller
            family = self.families[j]
            out.append(
                Reason(
                    family,
                    contribution,
                    reason(family, k, inputs, derived, scores.erosion),
                )
            )
        return out

    def predict_frame(self, orders: pd.DataFrame, state: RiskState) -> np.ndarray:
        """P(miss) per row of a frame in the ``orders`` shape, each order against ``state``.

        Orders are scored one by one against the same snapshot (an order does not see
        the others in the frame); the state is not modified beyond its clock.
        """
        if orders.empty:
            return np.zeros(0)
        fields = line_fields(orders.reset_index(drop=True))
        by_order = pd.Series(np.arange(len(orders))).groupby(
            orders["order_id"].astype(str).to_numpy(), sort=False
        )
        parts: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []
        for rows in by_order.indices.values():
            sub = {k: v[rows] for k, v in fields.items()}
            parts.append((rows, state.values(sub)))
        rows = np.concatenate([r for r, _ in parts])
        state_values = {k: np.concatenate([v[k] for _, v in parts]) for k in parts[0][1]}
        fields = {k: v[rows] for k, v in fields.items()}
        X = self.features.transform(fields, state_values)
        p = np.empty(len(rows))
        p[rows] = self.classifier.predict_proba(X)[:, 1]
        return p

    # --- orders (serving) -----------------------------------------------------------------

    def score_order(self, lines: Sequence[Mapping[str, Any]], state: RiskState) -> ScoredOrder:
        """Score and explain one order (its lines as contract-shaped dictionaries)."""
        result = self.score_orders([lines], state)[0]
        if isinstance(result, ValueError):
            raise result
        return result

    def score_orders(
        self, orders: Sequence[Sequence[Mapping[str, Any]]], state: RiskState
    ) -> list[ScoredOrder | ValueError]:
        """Score and explain many orders with one feature and SHAP computation for all lines.

        Each order is scored against ``state`` as it is: none sees the others' units (the
        caller records accepted orders afterwards, as for one order). An order that cannot
        be scored gets its ``ValueError`` in its place; the others are scored. NumPy's cost
        on a 5-line order is mostly per call, so many orders cost little more than one.
        """
        results: list[ScoredOrder | ValueError | None] = [None] * len(orders)
        # Orders with other columns (x_* context) or types cannot share arrays: group them.
        groups: dict[tuple, list[tuple[int, dict, list]]] = {}
        for i, lines in enumerate(orders):
            if not lines:
                results[i] = ValueError("lines must hold at least one order line")
                continue
            try:
                fields = record_fields(lines)
                rows = state.value_rows(fields)
            except ValueError as err:
                results[i] = err
                continue
            # The same columns give the same dtypes, except x_* context (numbers or text).
            signature = (
                frozenset(fields),
                frozenset(rows[0]),
                tuple(sorted((k, v.dtype.kind) for k, v in fields.items() if k[:2] == "x_")),
            )
            groups.setdefault(signature, []).append((i, fields, rows))
        for members in groups.values():
            try:
                scores = self.explain_arrays(
                    _concat([fields for _, fields, _ in members]),
                    value_arrays([row for _, _, rows in members for row in rows]),
                )
            except ValueError:
                for i, fields, rows in members:  # find the order(s) at fault
                    results[i] = self._alone(orders[i], fields, value_arrays(rows))
                continue
            start = 0
            for i, _, _ in members:
                results[i] = self._order(orders[i], scores, start)
                start += len(orders[i])
        return results  # type: ignore[return-value]  # every slot is filled above

    def score_snapshot(
        self, lines: Sequence[Mapping[str, Any]], fields: dict, values: dict
    ) -> ScoredOrder:
        """Score one order from the fields and state values another scorer was given
        (shadow scoring: the challenger sees exactly what the champion saw)."""
        return self._order(lines, self.explain_arrays(fields, values), 0)

    def _alone(
        self, lines: Sequence[Mapping[str, Any]], fields: dict, values: dict
    ) -> ScoredOrder | ValueError:
        try:
            return self._order(lines, self.explain_arrays(fields, values), 0)
        except ValueError as err:
            return err

    def _order(
        self, lines: Sequence[Mapping[str, Any]], scores: BatchScores, start: int
    ) -> ScoredOrder:
        """One order from the rows ``start …`` of ``scores``."""
        stop = start + len(lines)
        names = self.feature_names
        # One conversion per matrix slice, not per line and value. Features and SHAP values
        # stay arrays: they go to the audit log as they are (rows are views).
        features = np.asarray(scores.features[start:stop], dtype=np.float64)
        contributions = np.asarray(scores.contributions[start:stop], dtype=np.float64)
        families = scores.families[start:stop].tolist()
        probability = scores.probability[start:stop]
        margin = scores.margin[start:stop].tolist()
        out: list[LineRisk] = []
        for j, line in enumerate(lines):
            k = start + j
            flagged = bool(scores.erosion.flag[k])
            out.append(
                LineRisk(
                    order_id=_str(line.get("order_id")),
                    line_no=None if line.get("line_no") is None else int(line["line_no"]),
                    item_id=_str(line.get("item_id")),
                    probability=float(probability[j]),
                    margin=margin[j],
                    families=dict(zip(self.families, families[j], strict=True)),
                    reasons=self.reasons(scores, k),
                    margin_erosion=flagged,
                    margin_erosion_reason=(
                        reason("margin_erosion", k, *_columns(scores), scores.erosion)
                        if flagged
                        else None
                    ),
                    feature_names=names,
                    feature_row=features[j],
                    contribution_row=contributions[j],
                )
            )
        riskiest = max(out, key=lambda line: line.probability)
        return ScoredOrder(
            order_id=_str(lines[0].get("order_id")),
            score=aggregate(probability, self.aggregation),
            aggregation=self.aggregation,
            expected_value=self.expected_value,
            lines=out,
            top_family=riskiest.reasons[0].family if riskiest.reasons else None,
            features=features,
            contributions=contributions,
            margin_erosion=any(line.margin_erosion for line in out),
            reasons=riskiest.reasons,
        )


def _columns(scores: BatchScores) -> tuple[Columns, Columns]:
    if scores.columns is None:
        scores.columns = (Columns(scores.inputs), Columns(scores.derived))
    return scores.columns


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
