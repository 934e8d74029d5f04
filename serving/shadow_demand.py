"""Demand's shadow kind (``serving/shadow.py``): a case is a series of a replenishment run.

A sampled run (by a hash of its planning day, so a retried run is sampled the same way)
keeps what its suggestions were computed from — the planning data, the copy of the live
stock the rule ran on, the service level, the planning day — and the champion's
suggestions. After the response the challenger forecasts the same day from the same data
(a copy of its forecaster, in a worker thread: the costly recursive forecast never delays
the run) and the same rule turns that into suggestions, routed by the same policy.

Every series either version would order is a case. A **flip** is a series one version
orders and the other does not ("order→no order"), or a different routing of its
suggestion (auto-approve, approval queue); the measure is the relative change of the
suggested quantity, challenger against champion, of the series both order (the report
gives its median).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

from features.inventory import InventoryPositions
from governance.policy import Policy
from governance.routing import Decision, Replenishment, route
from models import replenishment_run
from models.replenishment import ReplenishmentPolicy
from models.replenishment_run import PlanningData
from serving.shadow import Verdict, routing

Series = tuple[str, str]  # item_id, location_id
ORDER, NO_ORDER = "order", "no order"


def number(value: Any) -> float | None:
    """A finite float, or None (a missing or non-numeric cost or value)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def decide(row: dict[str, Any], policy: Policy) -> Decision:
    """A suggestion's routing: by its value (the same for champion and challenger)."""
    return route(Replenishment(number(row.get("value"))), policy)


@dataclass
class DemandSnapshot:
    """What a replenishment run planned from and what the champion suggested."""

    data: PlanningData
    positions: InventoryPositions
    planning: ReplenishmentPolicy
    day: pd.Timestamp
    suggested: dict[Series, tuple[float, Decision]]


class DemandKind:
    model = "demand"
    summaries: ClassVar[dict[str, str]] = {"relative_qty_change": "median"}

    def scorer(self, served: Any) -> Any:
        return served.impl.forecaster

    def key(self, data: PlanningData, positions: Any, planning: Any, day: Any, *_: Any) -> str:
        """The run's planning day."""
        return f"replenishment:{pd.Timestamp(day).date()}"

    def snapshot(
        self,
        forecaster: Any,
        data: PlanningData,
        positions: InventoryPositions,
        planning: ReplenishmentPolicy,
        day: pd.Timestamp,
        rows: list[dict[str, Any]],
        decisions: list[Decision],
    ) -> DemandSnapshot:
        suggested = {
            (str(r["item_id"]), str(r["location_id"])): (float(r["suggested_qty"]), d)
            for r, d in zip(rows, decisions, strict=True)
            if float(r["suggested_qty"]) > 0
        }
        return DemandSnapshot(data, positions, planning, pd.Timestamp(day), suggested)

    def judge(self, forecaster: Any, snap: DemandSnapshot, policy: Policy) -> list[Verdict]:
        demand = replenishment_run.forecast_demand(
            snap.data, copy.deepcopy(forecaster), snap.day.date()
        )
        frame = replenishment_run.suggestions(snap.data, demand, snap.planning, snap.positions)
        challenger = {
            (str(r["item_id"]), str(r["location_id"])): (
                float(r["suggested_qty"]),
                decide(r, policy),
            )
            for r in frame.to_dict("records")
            if float(r["suggested_qty"]) > 0
        }
        verdicts = []
        for series in sorted(set(snap.suggested) | set(challenger)):
            before, after = snap.suggested.get(series), challenger.get(series)
            if before is None or after is None:
                moved = f"{NO_ORDER}→{ORDER}" if before is None else f"{ORDER}→{NO_ORDER}"
                verdicts.append(Verdict(moved))
                continue
            was, now = routing(before[1]), routing(after[1])
            change = (after[0] - before[0]) / before[0] if before[0] else None
            verdicts.append(
                Verdict(
                    None if was == now else f"{was}→{now}",
                    {} if change is None else {"relative_qty_change": change},
                )
            )
        return verdicts
