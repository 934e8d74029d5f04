"""How the loyalty regime's customers shop and choose substitutes (one utility for both).

Utility of item ``j`` for customer ``c`` on day ``d``::

    habit_c · L_cj + appeal_j − price_c · log(price_jd / category price) + PROMO · promo_jd

where ``L_cj`` is the Guadagni–Little loyalty: after every purchase in the category,
``L ← α_c · L + (1 − α_c) · 1[j bought]``. Purchases are multinomial-logit draws.
Substitute offers use the same terms, with the price relative to the original line's,
an offer-time display flag, and an outside option ``outside_c`` (take nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import softmax

from training.simulator.operations import Orders
from training.simulator.world import World

MAX_ITEMS = 6  # per category
PROMO = 1.5
PREFERENCE_SD = 0.3
REPERTOIRE = 3.0
REPERTOIRE_P = (0.3, 0.45, 0.25)
DISPLAY = 0.6
WEEK = np.array([1.2, 1.15, 1.15, 1.1, 1.0, 0.25, 0.1])
LINE_QTY_SHAPE = 2.0
OFFER_SHARE = 0.8  # short lines that get substitute offers
DISPLAY_RATE = 0.2


@dataclass
class Taste:
    """Hidden per customer (and per customer × category pair)."""

    habit: np.ndarray  # [customer] weight of loyalty
    smoothing: np.ndarray  # [customer] α of the loyalty update
    price: np.ndarray  # [customer] price sensitivity
    outside: np.ndarray  # [customer] utility of taking no substitute
    appeal: np.ndarray  # [item]
    preference: np.ndarray  # [pair, MAX_ITEMS] the customer's own taste for each item
    pair_customer: np.ndarray  # [pair]
    pair_category: np.ndarray  # [pair]
    pair_rate: np.ndarray  # [pair] purchase occasions per average weekday
    pair_qty: np.ndarray  # [pair] mean units per line
    slots: np.ndarray  # [category, MAX_ITEMS] item index, -1 where the category is smaller


@dataclass
class Purchases:
    """One row per order line, in the order drawn (by day), and the expected demand."""

    day: np.ndarray
    customer: np.ndarray
    item: np.ndarray
    location: np.ndarray
    qty: np.ndarray
    pair: np.ndarray
    loyalty: np.ndarray  # [line, MAX_ITEMS] the pair's loyalty before this purchase
    expected: np.ndarray  # [day, item × location] expected units


def draw_taste(world: World, n_cat: int, rng: np.random.Generator) -> Taste:
    n_c, n_i = len(world.customer_ids), len(world.item_ids)
    k = np.minimum(rng.integers(3, 9, n_c), n_cat)
    pair_customer = np.repeat(np.arange(n_c), k)
    pair_category = np.concatenate([rng.choice(n_cat, m, replace=False) for m in k])
    n_p = len(pair_customer)
    slots = np.full((n_cat, MAX_ITEMS), -1)
    for c in range(n_cat):
        members = np.flatnonzero(world.category == c)
        slots[c, : len(members)] = members
    return Taste(
        habit=rng.uniform(1.5, 3.0, n_c),
        smoothing=rng.uniform(0.6, 0.9, n_c),
        price=rng.uniform(1.0, 3.0, n_c),
        outside=rng.normal(0.5, 0.7, n_c),
        appeal=rng.normal(0, 0.4, n_i),
        preference=_repertoires(slots[pair_category], rng),
        pair_customer=pair_customer,
        pair_category=pair_category,
        pair_rate=1 / rng.uniform(4, 20, n_p),
        pair_qty=np.round(1 + np.exp(rng.normal(0.8, 0.7, n_p)), 2),
        slots=slots,
    )


def _repertoires(items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """[pair, MAX_ITEMS] taste: each pair buys from a repertoire of 1–3 of the category's
    items (B2B buyers dual-source), the rest of the category is a step below."""
    n_p = len(items)
    size = (items >= 0).sum(axis=1)
    k = np.minimum(rng.choice([1, 2, 3], n_p, p=REPERTOIRE_P), size)
    rank = np.argsort(rng.random((n_p, MAX_ITEMS)) + (items < 0), axis=1).argsort(axis=1)
    chosen = rank < k[:, None]
    return np.where(chosen, REPERTOIRE, 0.0) + rng.normal(0, PREFERENCE_SD, (n_p, MAX_ITEMS))


def promotions(world: World, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """[day, item] promotion flags and price cuts, a few windows a year per promoted item."""
    n_d, n_i = world.n_days, len(world.item_ids)
    promo = np.zeros((n_d, n_i), dtype=bool)
    cut = np.zeros((n_d, n_i))
    for i in np.flatnonzero(rng.random(n_i) < 0.6):
        for start in rng.integers(0, n_d, rng.poisson(n_d / 365 * 6) + 1):
            end = start + rng.integers(7, 22)
            promo[start:end, i] = True
            cut[start:end, i] = np.round(rng.uniform(0.1, 0.3), 2)
    return promo, cut


@dataclass
class _Slots:
    """Per pair: its category's items and what does not change from day to day."""

    items: np.ndarray  # [pair, MAX_ITEMS], -1 in empty slots
    safe: np.ndarray  # items with empty slots at 0 (for indexing)
    valid: np.ndarray
    static: np.ndarray  # preference + appeal − price · log(list price / category's)
    habit: np.ndarray  # [pair, 1]
    price: np.ndarray  # [pair, 1]

    @classmethod
    def of(cls, world: World, taste: Taste) -> _Slots:
        items = taste.slots[taste.pair_category]
        safe, valid = np.maximum(items, 0), items >= 0
        log_list = np.log(world.list_price[safe])
        ref = (log_list * valid).sum(axis=1, keepdims=True) / valid.sum(axis=1, keepdims=True)
        c = taste.pair_customer
        price = taste.price[c][:, None]
        static = taste.preference + taste.appeal[safe] - price * (log_list - ref)
        return cls(items, safe, valid, static, taste.habit[c][:, None], price)

    def utility(
        self, loyalty: np.ndarray, day: int, promo: np.ndarray, cut: np.ndarray
    ) -> np.ndarray:
        """[pair, MAX_ITEMS] deterministic purchase utility on ``day`` (−inf: no item)."""
        u = (
            self.static
            + self.habit * loyalty
            - self.price * np.log1p(-cut[day][self.safe])
            + PROMO * promo[day][self.safe]
        )
        return np.where(self.valid, u, -np.inf)


def purchases(
    world: World, taste: Taste, promo: np.ndarray, cut: np.ndarray, rng: np.random.Generator
) -> Purchases:
    """The day loop over every customer × category pair (vectorised over pairs).

    List prices are constant in this world; only promotion cuts move the price paid.
    """
    n_p = len(taste.pair_customer)
    n_l = len(world.location_ids)
    n_series = len(world.item_ids) * n_l
    slots = _Slots.of(world, taste)
    size = slots.valid.sum(axis=1)
    # Unknown start: a random loyalty over the category's items.
    loyalty = rng.dirichlet(np.ones(MAX_ITEMS), n_p) * slots.valid
    loyalty /= loyalty.sum(axis=1, keepdims=True)
    alpha = taste.smoothing[taste.pair_customer][:, None]
    home = world.customer_region[taste.pair_customer]  # location l serves region l
    series = (slots.safe * n_l + home[:, None]).ravel()
    expected = np.zeros((world.n_days, n_series))
    week = WEEK / WEEK[:5].mean()
    dow = world.dates.dayofweek.to_numpy()
    rows: list[tuple[np.ndarray, ...]] = []
    for d in range(world.n_days):
        rate = taste.pair_rate * week[dow[d]]
        p = softmax(slots.utility(loyalty, d, promo, cut), axis=1)
        weight = (rate * taste.pair_qty)[:, None] * p
        expected[d] = np.bincount(series, weight.ravel(), minlength=n_series)
        occ = np.flatnonzero(rng.random(n_p) < rate)
        if len(occ) == 0:
            continue
        cdf = np.cumsum(p[occ], axis=1)
        slot = np.minimum((rng.random(len(occ))[:, None] > cdf).sum(axis=1), size[occ] - 1)
        rows.append((np.full(len(occ), d), occ, slot, loyalty[occ].copy()))
        chosen = np.zeros((len(occ), MAX_ITEMS))
        chosen[np.arange(len(occ)), slot] = 1.0
        loyalty[occ] = alpha[occ] * loyalty[occ] + (1 - alpha[occ]) * chosen
    day, pair, slot, before = (np.concatenate(parts) for parts in zip(*rows, strict=True))
    mean_extra = taste.pair_qty[pair] - 1.0
    qty = 1 + rng.negative_binomial(LINE_QTY_SHAPE, LINE_QTY_SHAPE / (LINE_QTY_SHAPE + mean_extra))
    return Purchases(
        day=day,
        customer=taste.pair_customer[pair],
        item=slots.items[pair, slot],
        location=home[pair],
        qty=qty.astype(np.int64),
        pair=pair,
        loyalty=before,
        expected=expected,
    )


def offers(
    world: World,
    taste: Taste,
    orders: Orders,
    line_pair: np.ndarray,
    line_loyalty: np.ndarray,
    shipped: np.ndarray,
    promo: np.ndarray,
    cut: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Offer sets for short lines; the customer takes at most one offer, or none.

    Every other item of the category is offered, in random order. ``line_pair`` and
    ``line_loyalty`` are aligned with ``orders`` (the customer × category pair of a line
    and its loyalty before the purchase). Returns the ``substitutions`` rows and their
    truth (choice probability, loyalty, utility).
    """
    short = np.flatnonzero((shipped < orders.qty) & (rng.random(len(orders.qty)) < OFFER_SHARE))
    pair = line_pair[short]
    slots = taste.slots[taste.pair_category[pair]]
    order = np.argsort(rng.random(slots.shape), axis=1)  # a random offer order per event
    offered = np.take_along_axis(slots, order, axis=1)
    ok = (offered >= 0) & (offered != orders.item[short][:, None])
    safe = np.maximum(offered, 0)
    c, d = orders.customer[short], orders.day[short]
    display = rng.random(slots.shape) < DISPLAY_RATE
    price = np.round(
        world.list_price[safe]
        * (1 - cut[d[:, None], safe])
        * (1 - world.contract_discount[c])[:, None],
        2,
    )
    loyal = np.take_along_axis(line_loyalty[short], order, axis=1)
    u = (
        taste.habit[c][:, None] * loyal
        + np.take_along_axis(taste.preference[pair], order, axis=1)
        + taste.appeal[safe]
        - taste.price[c][:, None]
        * np.log(np.maximum(price, 0.01) / np.maximum(orders.unit_price[short], 0.01)[:, None])
        + PROMO * promo[d[:, None], safe]
        + DISPLAY * display
    )
    u = np.where(ok, u, -np.inf)
    p = softmax(np.column_stack([taste.outside[c], u]), axis=1)
    pick = (rng.random(len(short))[:, None] > np.cumsum(p, axis=1)).sum(axis=1) - 1
    accepted = np.arange(MAX_ITEMS)[None, :] == pick[:, None]

    ev, k = np.nonzero(ok)  # row-major: events in order, offers in offer order
    position = np.cumsum(ok, axis=1)[ev, k]
    line = short[ev]
    delay = rng.integers(5 * 60, 120 * 60, len(short)).astype("timedelta64[s]")
    j = offered[ev, k]
    rows = pd.DataFrame(
        {
            "ts": orders.ts[line] + delay[ev],
            "customer_id": world.customer_ids[orders.customer[line]],
            "original_item_id": world.item_ids[orders.item[line]],
            "offered_item_id": world.item_ids[j],
            "accepted": accepted[ev, k],
            "location_id": world.location_ids[orders.location[line]],
            "order_id": orders.order_id[line],
            "position": position.astype(np.int64),
            "original_unit_price": orders.unit_price[line],
            "offered_unit_price": price[ev, k],
            "x_promo": promo[orders.day[line], j].astype(np.int64),
            "x_display": display[ev, k].astype(np.int64),
        }
    )
    sort = np.lexsort((position, ev, rows["ts"].to_numpy()))
    rows = rows.iloc[sort].reset_index(drop=True)
    rows.insert(0, "event_id", [f"S{n:07d}" for n in range(len(rows))])
    truth = pd.DataFrame(
        {
            "event_id": rows["event_id"],
            "p_accept": p[:, 1:][ev, k][sort],
            "loyalty": loyal[ev, k][sort],
            "utility": u[ev, k][sort],
        }
    )
    return rows, truth


def taste_table(world: World, taste: Taste) -> pd.DataFrame:
    """``truth/customer_taste``: the hidden parameters of every customer."""
    return pd.DataFrame(
        {
            "customer_id": world.customer_ids,
            "habit": taste.habit,
            "smoothing": taste.smoothing,
            "price_sensitivity": taste.price,
            "outside_option": taste.outside,
        }
    )
