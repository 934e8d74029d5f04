"""The generic part of shadow scoring: counts, summaries, persistence, failures.

A kind that decides numbers stands in for a model (what varies per model is the kind:
orders, substitute searches and replenishment runs are tested through the app in
``test_shadow.py`` and ``test_shadow_models.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from governance.policy import default_policy_text, parse_policy
from serving.shadow import Shadow, Verdict
from training.promotion_gate import shadow_report


@dataclass
class Served:
    version: str
    impl: Any


class Threshold:
    """Decides ``x`` by ``x >= cut`` (the champion's decision travels in the snapshot)."""

    model = "threshold"
    summaries: ClassVar[dict[str, str]] = {"gap": "median", "size": "max"}

    def scorer(self, served: Served) -> float:
        return served.impl

    def key(self, x: float, champion: bool) -> str:
        return f"case-{x}"

    def snapshot(self, cut: float, x: float, champion: bool) -> tuple[float, bool]:
        return x, champion

    def judge(self, cut: float, snap: tuple[float, bool], policy: Any) -> list[Verdict]:
        x, champion = snap
        if x < 0:
            raise ValueError("a negative case")
        mine = x >= cut
        flip = None if mine == champion else f"{champion}→{mine}"
        return [Verdict(flip, {"gap": abs(x - cut), "size": x})]


def test_counts_summaries_and_a_restart_continue_per_challenger_version(
    tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("STOCKPILOT_HOME", str(tmp_path))
    from stockpilot.settings import get_settings

    get_settings.cache_clear()
    policy = parse_policy(default_policy_text())
    shadow = Shadow(get_settings().shadow_dir, Threshold())
    shadow.load(lambda: Served("7", 0.5), champion="6")
    snaps = [shadow.snapshot(x, x >= 0.3, share=1.0) for x in (0.1, 0.4, 0.6, 0.9)]
    assert shadow.snapshot(0.1, False, share=0.0) is None
    shadow.score(snaps, policy)
    # The champion cuts at 0.3, the challenger at 0.5: 0.4 is the one flip.
    assert (shadow.scored, shadow.flips, dict(shadow.transitions)) == (4, 1, {"True→False": 1})
    # Gaps to the challenger's cut: 0.4, 0.1, 0.1, 0.4.
    assert shadow.median_gap == pytest.approx(0.25) and shadow.max_size == 0.9
    shadow.score([shadow.snapshot(-1.0, False, share=1.0)], policy)  # the challenger fails
    assert shadow.errors == 1 and shadow.scored == 4

    restarted = Shadow(get_settings().shadow_dir, Threshold())
    restarted.load(lambda: Served("7", 0.5), champion="6")
    assert (restarted.scored, restarted.flips) == (4, 1)
    assert restarted.median_gap == pytest.approx(0.25)
    restarted.score([restarted.snapshot(0.45, True, share=1.0)], policy)
    assert restarted.flips == 2 and restarted.median_gap == pytest.approx(0.1)  # + gap 0.05
    written = json.loads((tmp_path / "shadow" / "threshold-v7.json").read_text())
    assert written["kept"]["gap"]["count"] == 5  # what the restart continued from
    report = shadow_report("threshold", "7")
    assert report["flip_rate"] == 2 / 5 and "kept" not in report

    restarted.load(lambda: Served("6", 0.5), champion="6")  # the champion is no challenger
    assert not restarted.active and restarted.report() is None
    get_settings.cache_clear()
