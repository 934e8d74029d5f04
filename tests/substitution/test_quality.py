"""Model behaviour on the medium simulated dataset of the acceptance checks (seed 7).

The issue's Done-when, asserted as stated: NDCG@5 ≥ 1.15 × the better baseline and
within 0.05 of the oracle, ECE ≤ 0.05.
"""

from __future__ import annotations

import pytest

from features.contract import validate_tables
from features.dataset import Dataset
from training.substitution import evaluate, fit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def medium_evaluation(medium_simulation):
    tables, violations = validate_tables(medium_simulation.tables)
    assert violations == []
    recommender, prepared = fit(Dataset.from_tables(tables), num_threads=1)
    evaluation, _ = evaluate(recommender, prepared, medium_simulation.truth)
    return evaluation


def test_ranking_beats_the_better_baseline_by_15_percent_and_is_near_the_oracle(
    medium_evaluation,
):
    test, oracle = medium_evaluation["test"], medium_evaluation["oracle"]
    best = max(b["ndcg@5"] for b in medium_evaluation["baselines"].values())
    relative = medium_evaluation["relative"]
    assert test["n_events"] > 2000
    assert relative["ndcg@5_over_best_baseline"] >= 1.15
    assert relative["ndcg@5_gap_to_oracle"] <= 0.05
    # ...and the reported figures are what they claim to be.
    assert relative["ndcg@5_over_best_baseline"] == pytest.approx(test["ndcg@5"] / best)
    assert relative["ndcg@5_gap_to_oracle"] == pytest.approx(oracle["ndcg@5"] - test["ndcg@5"])
    for baseline in medium_evaluation["baselines"].values():
        assert baseline["n_events"] == test["n_events"]  # the same events for every method
        assert test["hit@1_switch"] > baseline["hit@1_switch"]


def test_acceptance_probabilities_are_calibrated(medium_evaluation):
    assert medium_evaluation["calibration"]["ece"] <= 0.05


def test_candidate_generation_covers_accepted_substitutes(medium_evaluation):
    assert medium_evaluation["candidates"]["recall_accepted"] >= 0.8
