"""Offline evaluation of substitute rankings on logged offer sets.

Each test event is an offer set (the offers made for one short line). A method scores
every offer of the set; NDCG@5 and hit@k measure how high the accepted offers land.

The events are the **switch occasions**: test offer sets in which the customer took a
substitute — at least one offer of an item other than the original was accepted — the
moment the customer switches away from the item it wanted. A set nobody accepted carries
no ranking signal (every order scores the same); an accepted offer of the original item
itself (an export may log one, e.g. from another location) is no switch. The relevant
offers are the accepted substitutes; every method is scored on the same events.

- ``hit@1_switch``: share of switch occasions whose top-ranked offer was accepted — the
  headline metric and the champion gate's (:mod:`training.gate`);
- ``hit@3``, ``ndcg@5``: the same events, deeper in the list.

Calibration (ECE) uses every test offer.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from models.reliability import expected_calibration_error, reliability


def switch_relevance(offers: pd.DataFrame, accepted: np.ndarray) -> np.ndarray:
    """The relevant offers of switch occasions: accepted offers of another item than the
    original (an accepted offer of the original itself is no switch)."""
    other = offers["offered_item_id"].astype(str) != offers["original_item_id"].astype(str)
    return np.asarray(accepted, dtype=bool) & other.to_numpy()


def ranking_metrics(
    groups: np.ndarray, accepted: np.ndarray, score: np.ndarray, k: int = 5
) -> dict[str, float | int]:
    """NDCG@k, hit@1_switch and hit@3 over the offer sets with at least one acceptance.

    ``accepted`` marks the relevant offers (the accepted substitutes: see the module's
    switch occasions). Ties are broken by row order (the logged offer position),
    identically for all methods.
    """
    frame = pd.DataFrame(
        {
            "g": np.asarray(groups),
            "y": np.asarray(accepted, dtype=float),
            "s": np.asarray(score, dtype=float),
            "row": np.arange(len(groups)),
        }
    )
    frame["s"] = frame["s"].fillna(-np.inf)
    positive = frame.groupby("g")["y"].transform("max") > 0
    frame = frame[positive.to_numpy()]
    if frame.empty:
        return {
            f"ndcg@{k}": float("nan"),
            "hit@1_switch": float("nan"),
            "hit@3": float("nan"),
            "n_events": 0,
        }
    ranked = frame.sort_values(["g", "s", "row"], ascending=[True, False, True], kind="stable")
    rank = ranked.groupby("g").cumcount().to_numpy()
    gain = ranked["y"].to_numpy() * np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0)
    dcg = pd.Series(gain).groupby(ranked["g"].to_numpy()).sum()
    ideal = frame.sort_values(["g", "y"], ascending=[True, False], kind="stable")
    irank = ideal.groupby("g").cumcount().to_numpy()
    igain = ideal["y"].to_numpy() * np.where(irank < k, 1.0 / np.log2(irank + 2.0), 0.0)
    idcg = pd.Series(igain).groupby(ideal["g"].to_numpy()).sum()
    hits = pd.DataFrame({"g": ranked["g"].to_numpy(), "y": ranked["y"].to_numpy(), "r": rank})
    hit1 = hits[hits["r"] < 1].groupby("g")["y"].max()
    hit3 = hits[hits["r"] < 3].groupby("g")["y"].max()
    return {
        f"ndcg@{k}": float((dcg / idcg).mean()),
        "hit@1_switch": float(hit1.mean()),
        "hit@3": float(hit3.mean()),
        "n_events": len(dcg),
    }


def compare(
    groups: np.ndarray,
    accepted: np.ndarray,
    model_score: np.ndarray,
    baselines: Mapping[str, np.ndarray],
    oracle: np.ndarray | None,
) -> dict[str, object]:
    """Model, baselines and (on simulated data) the oracle on the same test events."""
    test = ranking_metrics(groups, accepted, model_score)
    out: dict[str, object] = {
        "test": test,
        "baselines": {name: ranking_metrics(groups, accepted, s) for name, s in baselines.items()},
        "oracle": None if oracle is None else ranking_metrics(groups, accepted, oracle),
    }
    ndcg = {name: b["ndcg@5"] for name, b in out["baselines"].items()}  # type: ignore[index]
    best_name = max(ndcg, key=ndcg.__getitem__)
    best = ndcg[best_name]
    out["relative"] = {
        "ndcg@5_best_baseline": best_name,
        "ndcg@5_over_best_baseline": test["ndcg@5"] / best if best else float("nan"),
        "ndcg@5_gap_to_oracle": (
            None if out["oracle"] is None else out["oracle"]["ndcg@5"] - test["ndcg@5"]  # type: ignore[index]
        ),
    }
    return out


def reliability_figure(p: np.ndarray, y: np.ndarray) -> object:
    """Reliability diagram (matplotlib Figure) for the MLflow run."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    table = reliability(y, p)
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.plot(table["predicted"], table["observed"], marker="o")
    ax.set_xlabel("predicted acceptance")
    ax.set_ylabel("observed acceptance")
    ax.set_title(f"Substitution calibration (ECE {expected_calibration_error(y, p):.3f})")
    fig.tight_layout()
    return fig


def shap_summary_figure(importance: pd.Series, top: int = 15) -> object:
    """Mean |SHAP| per feature on test offers (matplotlib Figure)."""
    from matplotlib.figure import Figure

    shown = importance.head(top)[::-1]
    fig = Figure(figsize=(6, 0.3 * len(shown) + 1.2))
    ax = fig.subplots()
    ax.barh(shown.index, shown.to_numpy())
    ax.set_xlabel("mean |SHAP| (log-odds)")
    ax.set_title("What drives predicted acceptance")
    fig.tight_layout()
    return fig
