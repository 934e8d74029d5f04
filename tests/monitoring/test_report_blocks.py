"""The blocks every model's monitoring report shares (order risk, substitution, demand):
what they count, on a hand-made drift table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from governance.policy import MonitoringPolicy
from models import drift
from training.monitoring import drift_block, reference_block, report_header

COLUMNS = list(drift.DriftRow.__dataclass_fields__)


def _drifts() -> pd.DataFrame:
    rows = [
        ("2024-05-01", "qty", 40, 9.0, 3, 0.01, 0.02, 0.30, 0.10, True),
        ("2024-05-02", "qty", 35, 1.0, 3, 0.60, 0.60, 0.05, 0.02, False),
        ("2024-05-01", "lead_days", 40, np.nan, 0, np.nan, np.nan, np.nan, np.nan, False),
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_the_drift_block_counts_feature_days_and_lists_the_alarms():
    rules = MonitoringPolicy()
    block = drift_block(rules, _drifts())
    assert (block["q"], block["min_psi"]) == (rules.drift_q, rules.min_psi)
    assert (block["feature_days"], block["alarms"]) == (3, 1)
    assert [(r["day"], r["feature"]) for r in block["rows"]] == [("2024-05-01", "qty")]
    by_feature = {r["feature"]: r for r in block["by_feature"]}
    assert by_feature["qty"] == {
        "feature": "qty", "days": 2, "alarms": 1, "max_psi": 0.3, "max_js": 0.1, "last_psi": 0.05
    }  # fmt: skip
    assert by_feature["lead_days"]["max_psi"] is None  # NaN is null in the report


def test_without_drift_tests_or_reference_the_blocks_say_so():
    block = drift_block(MonitoringPolicy(), pd.DataFrame(columns=COLUMNS))
    assert block["feature_days"] == block["alarms"] == 0
    assert block["rows"] == block["by_feature"] == []
    assert reference_block(None) is None


def test_the_reference_block_and_the_header():
    reference = drift.Reference(
        features={}, n_lines=10, period=("2024-01-01", "2024-04-30"), skipped={"wd": "calendar"}
    )
    assert reference_block(reference) == {
        "period": ["2024-01-01", "2024-04-30"], "features": 0, "not_monitored": {"wd": "calendar"}
    }  # fmt: skip
    days = pd.Series(["2024-05-01", "2024-05-01", "2024-05-03"])
    assert report_header("m", "3", since="2024-05-01", days=days) == {
        "model": "m", "model_version": "3", "since": "2024-05-01", "days": 2, "lines": 3
    }  # fmt: skip
