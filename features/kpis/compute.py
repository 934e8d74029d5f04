"""Compute KPIs over a period and slice: values, target status, trend, groups.

``compute(facts, query)`` is the one entry point the CLI, the API and the Prometheus
gauges call; it is pure (facts in, numbers out), so what a dashboard shows is what the
tests pin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from features.kpis.backorders import backorder_aging
from features.kpis.base import KpiFacts, Result
from features.kpis.decisions import DECISIONS, governance_kpi
from features.kpis.definitions import BY_ID, CATALOG, DIMENSIONS, Definition, definition
from features.kpis.fulfilment import FULFILMENT, LineView
from features.kpis.query import Query
from features.kpis.stock_kpis import STOCK, stock_kpi

Status = Literal["met", "missed", "no_data"]


@dataclass
class Group:
    key: str
    result: Result


@dataclass
class Computed:
    definition: Definition
    result: Result
    groups: list[Group] = field(default_factory=list)

    @property
    def target_figure(self) -> float | None:
        component = self.definition.target.component
        return self.result.value if component is None else self.result.components.get(component)

    @property
    def status(self) -> Status:
        met = self.definition.target.met(self.target_figure)
        return "no_data" if met is None else "met" if met else "missed"


def evaluate(kpi_id: str, facts: KpiFacts, query: Query, view: LineView | None = None) -> Result:
    """One KPI's result (``view``: the query's line view, when the caller already has it).
    A result without a value always says why."""
    result = _evaluate(kpi_id, facts, query, view)
    if result.value is None and result.note is None:
        result.note = "nothing to count in this period and slice"
    return result


def _evaluate(kpi_id: str, facts: KpiFacts, query: Query, view: LineView | None) -> Result:
    definition(kpi_id)
    if kpi_id in FULFILMENT:
        return FULFILMENT[kpi_id](view or LineView(facts.lines, query))
    if kpi_id == "backorder_aging":
        return backorder_aging(facts.lines, query)
    if kpi_id in DECISIONS:
        return governance_kpi(kpi_id, facts, query)
    if kpi_id in STOCK:
        return stock_kpi(kpi_id, facts, query)
    raise AssertionError(f"no computation for KPI {kpi_id!r}")  # the catalog test covers this


def compute(
    facts: KpiFacts,
    query: Query,
    ids: Iterable[str] | None = None,
    by: str | None = None,
) -> list[Computed]:
    """The KPIs ``ids`` (all of them by default) over ``query``; ``by`` adds one value per
    value of that dimension."""
    if by is not None and by not in DIMENSIONS:
        raise ValueError(f"by: {by!r} is not one of {', '.join(DIMENSIONS)}")
    wanted = [definition(i) for i in ids] if ids is not None else list(CATALOG)
    view = LineView(facts.lines, query)
    out = [Computed(d, evaluate(d.id, facts, query, view)) for d in wanted]
    if by is not None:
        for code, label in enumerate(facts.dims.labels[by]):
            narrowed = query.narrowed(by, code)
            group_view = LineView(facts.lines, narrowed)
            for computed in out:
                result = evaluate(computed.definition.id, facts, narrowed, group_view)
                computed.groups.append(Group(str(label), result))
    return out


__all__ = ["BY_ID", "Computed", "Group", "compute", "evaluate"]
