"""``stockpilot score order-risk``'s table: one explained row per selected line."""

from __future__ import annotations

import numpy as np

from training.order_risk_scoring import explained_frame


def test_every_selected_line_gets_a_probability_an_order_score_and_reasons(
    tiny_scorer, prepared, masks
):
    test = masks["test"]
    frame = explained_frame(tiny_scorer, prepared, test)
    assert len(frame) == int(test.sum())
    assert frame["p_miss"].between(0, 1).all()
    # An order's score is at least its riskiest line's probability (noisy-or / max).
    riskiest = frame.groupby("order_id")["p_miss"].transform("max")
    assert (frame["order_score"] >= riskiest - 1e-12).all()
    contributions = [c for c in frame.columns if c.startswith("contrib_")]
    assert contributions and np.isfinite(frame[contributions].to_numpy()).all()
    assert frame["reasons"].str.len().gt(0).any()


def test_no_line_selected_is_an_empty_table_with_its_columns(tiny_scorer, prepared):
    frame = explained_frame(tiny_scorer, prepared, np.zeros(len(prepared.orders), bool))
    assert frame.empty and {"order_id", "p_miss", "order_score"} <= set(frame.columns)
