"""`make run` prints each new model's headline figures from its evaluation."""

from __future__ import annotations

from stockpilot.bootstrap import headline


def test_headline_names_the_model_figures_and_the_best_baseline():
    order_risk = {
        "test": {"auc": 0.8912, "ece": 0.0151},
        "baselines": {"rule": {"auc": 0.80}, "logistic": {"auc": 0.876}},
        "oracle": {"auc": 0.901},
    }
    assert headline("order-risk", order_risk) == (
        "test AUC 0.891 (best baseline 0.876, oracle 0.901), ECE 0.015"
    )
    substitution = {
        "test": {"ndcg@5": 0.88, "hit@1_switch": 0.79},
        "baselines": {
            "popularity": {"ndcg@5": 0.72, "hit@1_switch": 0.52},
            "habit": {"ndcg@5": 0.75, "hit@1_switch": 0.61},
        },
    }
    assert headline("substitution", substitution) == (
        "NDCG@5 0.880 (best baseline 0.750), hit@1 on switch occasions 0.790 (best baseline 0.610)"
    )
    demand = {
        "backtest": {"wape": 1.01, "coverage80": 0.789},
        "baselines": {"seasonal_naive": {"wape": 1.235}, "auto_ets": {"wape": 1.066}},
    }
    assert "SeasonalNaive 1.235" in headline("demand", demand)


def test_headline_of_an_unexpected_evaluation_points_to_the_file():
    assert headline("demand", {"backtest": None}).startswith("evaluation in")
    assert "oracle" not in headline(
        "order-risk", {"test": {"auc": 0.8, "ece": 0.1}, "baselines": {"r": {"auc": 0.7}}}
    )
