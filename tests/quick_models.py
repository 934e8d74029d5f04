"""Training options for fixtures that need a real registered model, not a good one.

They still go through the real pipelines (backtest, baselines, gate, MLflow, registry);
how good a model is gets asserted where it is the subject (tests/demand, tests/order_risk,
tests/substitution), on their own configurations. Production defaults are untouched.
"""

from __future__ import annotations

from training.demand import TrainConfig
from training.demand.train import train_backtest


def demand(horizon: int = 28, n_windows: int = 1) -> TrainConfig:
    """Demand's default run on the small world spends ~185 s in its stages on one thread:
    three backtest windows with a per-series AutoETS fitted in each (the combination), and
    the policy replay at five service levels. One window, LightGBM alone, 40 trees and the
    replay at the policy's own target spend ~27 s there, and the model still passes the
    champion gate (the serving fixture checks that it did)."""
    return TrainConfig(
        backtest=train_backtest(horizon=horizon, n_windows=n_windows),
        model={"combine_ets": False, "n_estimators": 40},
        trade_off_levels=(),
    )
