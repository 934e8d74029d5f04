"""Any dataset that meets the contract: every regime of the simulator (minimal exports,
drift, ...) and optional columns missing give every KPI, or a note saying why not."""

from __future__ import annotations

import pytest

from features.kpis.compute import compute
from features.kpis.rows import rows
from stockpilot.data import load_dataset, write_tables
from tests.kpis import tiny
from tests.kpis.conftest import facts_of, january
from training.simulator import simulate, write


@pytest.mark.parametrize("regime", ["standard", "routes", "loyalty", "sparse", "drift"])
def test_every_regime_gives_every_kpi(tmp_path, regime):
    write(simulate("small", seed=4, regime=regime), tmp_path)
    facts = facts_of(load_dataset(tmp_path))
    from features.kpis.query import Period, Query

    due = facts.lines.due_day
    query = Query(Period(int(due.min()), int(facts.lines.horizon), "month"))
    for computed in compute(facts, query, by="location"):
        result = computed.result
        assert result.value is not None or result.note, (regime, computed.definition.id)
        page = rows(facts, computed.definition.id, query, limit=5)
        assert len(page.rows) <= 5


def test_fulfillments_with_only_the_required_columns(tmp_path):
    ful = tiny.fulfillments()[["order_id", "line_no", "shipped_qty"]]
    ds = tiny.dataset(fulfillments=ful, substitutions=None, carriers=None)
    write_tables(ds.tables(), tmp_path)
    facts = facts_of(load_dataset(tmp_path))
    results = {c.definition.id: c.result for c in compute(facts, january())}
    assert results["fill_rate_line"].value == pytest.approx(0.75)
    assert results["promise_accuracy"].value is None  # no dates: lateness unknown
    assert results["backorder_aging"].value is not None
