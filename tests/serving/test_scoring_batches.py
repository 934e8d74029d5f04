"""Dynamic batching: requests arriving together share one scoring pass, and see the same."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from serving.routers.orders import contract_lines
from serving.schemas.orders import OrderIn
from serving.scoring import OrderBatcher
from tests.serving.conftest import dataset_orders


@pytest.fixture
def requests(serving_settings):
    now = datetime.now(UTC)
    orders = [OrderIn.model_validate(o) for o in dataset_orders(serving_settings, 6)]
    # Three requests of two orders each, as three clients would send them.
    return [[contract_lines(o, now) for o in orders[k : k + 2]] for k in (0, 2, 4)]


def test_requests_of_one_moment_share_a_pass_and_get_what_they_get_alone(services, requests):
    scorer = services.models.get("order-risk").impl.scorer
    state = services.live.risk
    batcher = OrderBatcher()

    async def together():
        return await asyncio.gather(*(batcher.score(scorer, state, r) for r in requests))

    results = asyncio.run(together())
    assert (batcher.passes, batcher.requests) == (1, 3)
    for request, risks in zip(requests, results, strict=True):
        assert len(risks) == len(request)
        for lines, risk in zip(request, risks, strict=True):
            alone = scorer.score_order(lines, state)
            assert risk.order_id == alone.order_id
            assert risk.score == pytest.approx(alone.score, abs=1e-12)
            for a, b in zip(risk.lines, alone.lines, strict=True):
                assert a.contribution_list == pytest.approx(b.contribution_list, abs=1e-12)


def test_a_bad_order_fails_only_its_own_request(services, requests):
    scorer = services.models.get("order-risk").impl.scorer
    state = services.live.risk
    batcher = OrderBatcher()
    bad = [[{**line, "promised_date": "soon"} for line in requests[1][0]], requests[1][1]]

    async def together():
        return await asyncio.gather(
            batcher.score(scorer, state, requests[0]), batcher.score(scorer, state, bad)
        )

    good, mixed = asyncio.run(together())
    assert batcher.passes == 1
    assert not any(isinstance(r, ValueError) for r in good)
    assert isinstance(mixed[0], ValueError) and "promised_date" in str(mixed[0])
    assert not isinstance(mixed[1], ValueError)


def test_requests_one_after_another_are_not_held_back(services, requests):
    scorer = services.models.get("order-risk").impl.scorer
    batcher = OrderBatcher()

    async def one_by_one():
        return [await batcher.score(scorer, services.live.risk, r) for r in requests]

    assert len(asyncio.run(one_by_one())) == 3
    assert (batcher.passes, batcher.requests) == (3, 3)


def test_what_a_pass_queues_after_itself_runs_behind_the_requests_it_resumed(services, requests):
    # Serving queues the group committer's flush there: the resumed requests submit their
    # writes first, then one flush sends them all.
    scorer = services.models.get("order-risk").impl.scorer
    seen: list[str] = []
    batcher = OrderBatcher(
        after_pass=lambda: asyncio.get_running_loop().call_soon(seen.append, "after pass")
    )

    async def request(lines):
        await batcher.score(scorer, services.live.risk, lines)
        seen.append("resumed")

    async def together():
        await asyncio.gather(*(request(r) for r in requests))

    asyncio.run(together())
    assert seen == ["resumed"] * 3 + ["after pass"]
