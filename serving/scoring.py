"""Dynamic batching of order scoring: requests that arrive together are scored in one pass.

A 5-line order's features, probability and exact SHAP values cost mostly NumPy's
per-call overhead, so scoring the orders of eight concurrent requests in one
:meth:`~models.order_risk_scorer.OrderRiskScorer.score_orders` call costs little more
than scoring one. :class:`OrderBatcher` collects the orders of every request that reaches
it in the same turn of the event loop and scores them when that turn ends; nothing waits
for a timer, so a lone request is scored at once.

The batch changes nothing a request sees: every order is scored against the live state
as it is, and orders are recorded in the state only after their request committed, so
orders in flight at the same moment never saw each other anyway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from features.risk_state import RiskState
from models.order_risk_scorer import OrderRiskScorer, ScoredOrder

Lines = Sequence[Mapping[str, Any]]


@dataclass(slots=True)
class _Waiting:
    scorer: OrderRiskScorer
    state: RiskState
    orders: Sequence[Lines]
    future: asyncio.Future


class OrderBatcher:
    """``after_pass`` is queued on the loop right behind the requests a pass resumes (serving
    queues the group committer's flush there: those requests submit their writes next)."""

    def __init__(self, after_pass: Callable[[], None] | None = None) -> None:
        self.after_pass = after_pass
        self._waiting: list[_Waiting] = []
        self.passes = 0  # score_orders calls; with ``requests`` it gives the mean batch
        self.requests = 0
        self.wait_seconds = 0.0  # what requests waited for their pass, in all

    async def score(
        self, scorer: OrderRiskScorer, state: RiskState, orders: Sequence[Lines]
    ) -> list[ScoredOrder | ValueError]:
        """Each order's risk (or why it cannot be scored), in the order given."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush)  # after the requests already running this turn
        self._waiting.append(_Waiting(scorer, state, orders, future))
        start = time.perf_counter()
        try:
            return await future
        finally:
            self.wait_seconds += time.perf_counter() - start

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        # A model reload between two requests gives them different scorers: one pass each.
        by_model: dict[tuple[int, int], list[_Waiting]] = {}
        for w in waiting:
            by_model.setdefault((id(w.scorer), id(w.state)), []).append(w)
        for group in by_model.values():
            live = [w for w in group if not w.future.cancelled()]  # client went away
            if not live:
                continue
            orders = [lines for w in live for lines in w.orders]
            try:
                results = live[0].scorer.score_orders(orders, live[0].state)
            except Exception as exc:  # a bug, not bad input: every request of the pass fails
                for w in live:
                    w.future.set_exception(exc)
                continue
            self.passes += 1
            self.requests += len(live)
            start = 0
            for w in live:
                w.future.set_result(results[start : start + len(w.orders)])
                start += len(w.orders)
            if self.after_pass is not None:
                self.after_pass()
