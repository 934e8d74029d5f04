"""Substitution's shadow kind (``serving/shadow.py``): a case is a substitute search.

The snapshot keeps the request, the moment the champion searched at and the available
stock of every item the *challenger* would look at (its candidates, copied from the live
positions on the request path: later inventory events must not change what it sees).
After the response the challenger searches the same request on that copy and its best
substitute is routed by the same policy. A **flip** is a different routing of the
request (auto-offer, review queue, no substitute) or a different best substitute; the
measures are the overlap of the two ranked lists (shared items / the longer list) and the
gap between the two best P(accept).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from features.inventory import InventoryPositions, StockSnapshot
from governance.policy import Policy
from governance.routing import Decision, NoSubstitute, Substitution, route
from models.substitution_recommender import Substitute, SubstitutionResult
from serving.schemas.substitutes import SubstitutesIn
from serving.shadow import Verdict, routing


def margin_loss(sub: Substitute, unit_price: float | None) -> float | None:
    """Margin given up per unit, as a share of the original price (``None``: unknown)."""
    if sub.margin_delta is None or not unit_price:
        return None
    return max(0.0, -sub.margin_delta) / unit_price


def search(recommender: Any, body: SubstitutesIn, stock: Any, **options: Any) -> SubstitutionResult:
    """The request's substitute search on ``stock`` (live positions, or a snapshot of them);
    ``options`` are the recommender's others (``ts``, ``explain``)."""
    return recommender.recommend(
        body.customer_id,
        body.item_id,
        body.qty,
        body.location_id,
        body.need_by,
        inventory=stock,
        n=body.n,
        unit_price=body.unit_price,
        context=body.context,
        other_locations=body.other_locations,
        **options,
    )


def decide(result: SubstitutionResult, policy: Policy) -> tuple[list[Decision], Decision]:
    """Each substitute's routing and the request's: its best substitute decides, and none
    in stock sends it to sales (the same for champion and challenger)."""
    decisions = [
        route(Substitution(s.p_accept, margin_loss(s, result.unit_price)), policy)
        for s in result.substitutes
    ]
    return decisions, decisions[0] if decisions else route(NoSubstitute(), policy)


@dataclass
class SubstitutionSnapshot:
    """What the substitution champion searched on and what it found, for the challenger."""

    body: SubstitutesIn
    ts: datetime
    stock: StockSnapshot
    ranked: list[str]  # the champion's substitutes, best first
    top_p: float | None
    decision: Decision


class SubstitutionKind:
    model = "substitution"
    summaries: ClassVar[dict[str, str]] = {"top_k_overlap": "mean", "top_p_accept_gap": "max"}

    def scorer(self, served: Any) -> Any:
        return served.impl.recommender

    def key(self, body: SubstitutesIn, subject: str, *_: Any) -> str:
        """The request's subject and order (a retried search is sampled the same way)."""
        return f"{subject}|{body.order_id or ''}"

    def snapshot(
        self,
        recommender: Any,
        body: SubstitutesIn,
        subject: str,
        result: SubstitutionResult,
        decision: Decision,
        inventory: InventoryPositions,
    ) -> SubstitutionSnapshot:
        items = recommender.candidate_items(body.customer_id, body.item_id)
        return SubstitutionSnapshot(
            body=body,
            ts=result.ts,
            stock=inventory.stock_of(items),
            ranked=[s.item_id for s in result.substitutes],
            top_p=float(result.substitutes[0].p_accept) if result.substitutes else None,
            decision=decision,
        )

    def judge(self, recommender: Any, snap: SubstitutionSnapshot, policy: Policy) -> list[Verdict]:
        result = search(recommender, snap.body, snap.stock, ts=snap.ts, explain=False)
        _, top = decide(result, policy)
        ranked = [s.item_id for s in result.substitutes]
        before, after = routing(snap.decision), routing(top)
        flip = None
        if before != after:
            flip = f"{before}→{after}"
        elif ranked[:1] != snap.ranked[:1]:
            flip = "another best substitute"
        longest = max(len(ranked), len(snap.ranked))
        measures = {
            "top_k_overlap": len(set(ranked) & set(snap.ranked)) / longest if longest else 1.0
        }
        if ranked and snap.top_p is not None:
            measures["top_p_accept_gap"] = abs(float(result.substitutes[0].p_accept) - snap.top_p)
        return [Verdict(flip, measures)]
