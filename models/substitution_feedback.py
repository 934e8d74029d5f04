"""Outcomes of served recommendations as rows of the contract's ``substitutions`` table.

Retraining learns from what customers did with *our* offers, so each decided
recommendation becomes ordinary substitution events: one row per offered substitute,
``accepted`` true or false, at the recommendation's time, with the rank as
``position`` and the ``x_*`` context the request carried. Pure: the writer that
appends them to a dataset is :func:`stockpilot.feedback.append_substitutions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from models.substitution_recommender import Reason, Substitute, SubstitutionResult


def result_from(payload: Mapping[str, Any]) -> SubstitutionResult:
    """The recommendation as served, rebuilt from its audited payload
    (``explanation.result`` of its ``recommendation.created`` event)."""
    subs = tuple(
        Substitute(**{**s, "reasons": tuple(Reason(**r) for r in s["reasons"])})
        for s in payload["substitutes"]
    )
    fields = {k: v for k, v in payload.items() if k != "substitutes"}
    for key in ("ts", "need_by"):
        if fields.get(key):
            fields[key] = datetime.fromisoformat(fields[key])
    return SubstitutionResult(**fields, substitutes=subs)


def feedback_rows(
    result: SubstitutionResult,
    accepted: Iterable[str],
    *,
    offered: Iterable[str] | None = None,
    order_id: str | None = None,
) -> pd.DataFrame:
    """Contract rows for the substitutes shown to the customer.

    ``offered`` are the item ids actually put to the customer (default: every returned
    substitute); ``accepted`` must be among them. Event ids are
    ``<request_id>-<rank>``, so writing the same outcome twice is detectable.
    """
    by_item = {s.item_id: s for s in result.substitutes}
    shown = list(dict.fromkeys(offered)) if offered is not None else list(by_item)
    unknown = [i for i in shown if i not in by_item]
    if unknown:
        raise ValueError(f"offered contains items not in the recommendation: {unknown}")
    taken = set(accepted)
    stray = sorted(taken - set(shown))
    if stray:
        raise ValueError(f"accepted contains items that were not offered: {stray}")
    context = {k: v for k, v in result.context.items() if str(k).startswith("x_")}
    rows = [
        {
            "event_id": f"{result.request_id}-{by_item[i].rank}",
            "ts": pd.Timestamp(result.ts),
            "customer_id": result.customer_id,
            "original_item_id": result.item_id,
            "offered_item_id": i,
            "accepted": i in taken,
            "location_id": result.location_id,
            "order_id": order_id,
            "position": by_item[i].rank,
            "original_unit_price": result.unit_price,
            "offered_unit_price": by_item[i].unit_price,
            **context,
        }
        for i in shown
    ]
    columns = [
        "event_id",
        "ts",
        "customer_id",
        "original_item_id",
        "offered_item_id",
        "accepted",
        "location_id",
        "order_id",
        "position",
        "original_unit_price",
        "offered_unit_price",
        *context,
    ]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype(
        {
            "accepted": bool,
            "position": "Int64",
            "original_unit_price": float,
            "offered_unit_price": float,
        }
    )
