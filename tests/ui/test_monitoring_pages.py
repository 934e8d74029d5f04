"""/ui/monitoring?model=…: each model's latest run renders (order risk, substitution with
its served block, demand), through the real app and real `stockpilot monitor` runs."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from fastapi.testclient import TestClient

from tests.serving.conftest import auth
from tests.ui.conftest import sign_in


def test_each_models_run_renders(client: TestClient, keys, serving_settings):
    from governance.policy import MonitoringPolicy
    from stockpilot.monitoring_reports import write_report
    from tests.serving.test_api_substitutes import request_for
    from training.monitor_demand import demand_block
    from training.monitor_run import monitor

    sign_in(client, keys["data_scientist"])
    empty = client.get("/ui/monitoring?model=demand")
    assert empty.status_code == 200
    assert "stockpilot monitor demand --data DIR" in empty.text
    assert client.get("/ui/monitoring?model=churn").status_code == 404

    created = client.post(
        "/v1/substitutes", json=request_for(serving_settings), headers=auth(keys["sales"])
    ).json()
    assert created["substitutes"]
    subs = pd.read_parquet(serving_settings.data_dir / "substitutions.parquet")
    since = pd.to_datetime(subs["ts"]).max().date() - timedelta(days=20)
    report = monitor(
        "substitution", serving_settings.data_dir, since=since, alerts=False, served=True
    )
    page = client.get("/ui/monitoring?model=substitution")
    assert page.status_code == 200, page.text
    assert 'aria-label="hit@1 on switch occasions per week' in page.text
    assert page.text.count("<tr><td>20") >= len(report["substitution"]["weeks"])  # 20xx-Wnn
    assert "Served recommendations and their outcomes" in page.text
    assert "0 with feedback" in page.text

    frame = pd.DataFrame(
        {
            "unique_id": ["a", "b"],
            "date": pd.to_datetime(["2025-01-06", "2025-01-06"]),
            "y": [3.0, 1.0],
            "mean": [2.0, 1.5],
            "pit80": [1.0, 0.5],
            "segment": ["slow", "intermittent"],
            "location_id": ["ATL", "CHI"],
            "category": ["c1", "c2"],
        }
    )
    block = demand_block(
        frame, trained_until="2025-01-05", backtest={"wape": 0.5}, rules=MonitoringPolicy()
    )
    write_report(
        serving_settings.home,
        "demand",
        {"model": "demand", "model_version": "1", "generated_at": "2025-01-07T00:00:00",
         "since": "2025-01-06", "days": 1, "lines": 2, "reference": None, "demand": block},
    )  # fmt: skip
    page = client.get("/ui/monitoring?model=demand")
    assert page.status_code == 200, page.text
    assert "<td>2025-W02</td><td>2</td><td>4</td><td>4</td>" in page.text  # 3.5 → 4
    assert "<td>0.375</td>" in page.text  # WAPE (1 + 0.5) / 4
    assert "<td>intermittent</td>" in page.text and "no reference stored" not in page.text
