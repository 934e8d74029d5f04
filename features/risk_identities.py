"""Which identities of an order line get a point-in-time miss rate, and their keys.

On real exports the signal is often in *who and which way* rather than in stock: one
fulfilment route misses 3 % of its lines, another 32 %; one vendor's items arrive
short. Every categorical identity the export has — the route (location × carrier ×
ship method), the location, the carrier, the item and its category, brand and
supplier, supplier × location, the customer's region / segment / tier, the priority
and every text ``x_*`` column — gets a history statistic: of its lines whose outcome
was known before the order (the same "known from its final event day" rule as the
lane statistics), how many missed. Few observations say little, so each rate is
shrunk towards its parent's (route → location, supplier × location → supplier, item
→ category) and, at the top, towards the network's rate at that time.

The route and the network also keep a recent window (:data:`RECENT_DAYS`), so that a
drifting base rate or a collapsing route shows up before the all-time rate moves.

Nothing here knows how the data was made: :func:`choose` picks the identities from
the columns present, bounded in number (:data:`MAX_FREE`) and in levels
(:data:`MAX_FREE_LEVELS`). Training (:mod:`features.risk_history`) and serving
(:class:`~features.risk_state.RiskState`) both read these definitions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

RECENT_DAYS = 28
MAX_FREE = 8  # text x_* columns with a statistic (the first by name)
MAX_FREE_LEVELS = 10_000  # more distinct values than this: an id, not a category
NETWORK = "network"


@dataclass(frozen=True)
class Identity:
    """One keyed miss-rate statistic: its name, key parts, parent and driver family.

    ``parts`` name line fields (``location_id``, ``carrier_id``, ``x_*``…) or master
    values (``item_supplier``, ``cust_region``…); a line missing any part has no key.
    """

    name: str
    parts: tuple[str, ...]
    parent: str | None  # identity shrunk towards; None: the network
    family: str
    recent: bool = False

    @property
    def n(self) -> str:
        return f"ids_{self.name}_n"

    @property
    def m(self) -> str:
        return f"ids_{self.name}_m"

    @property
    def recent_n(self) -> str:
        return f"ids_{self.name}_recent_n"

    @property
    def recent_m(self) -> str:
        return f"ids_{self.name}_recent_m"


# The catalogue, parents before children. Parts that an export lacks drop the identity.
_CATALOGUE = (
    Identity("location", ("location_id",), None, "route"),
    Identity("carrier", ("carrier_id",), None, "route"),
    Identity("route", ("location_id", "carrier_id", "ship_method"), "location", "route", True),
    Identity("category", ("item_category",), None, "context"),
    Identity("item", ("item_id",), "category", "context"),
    Identity("brand", ("item_brand",), None, "context"),
    Identity("supplier", ("item_supplier",), None, "context"),
    Identity("supplier_location", ("item_supplier", "location_id"), "supplier", "context"),
    Identity("customer_region", ("cust_region",), None, "customer"),
    Identity("customer_segment", ("cust_segment",), None, "customer"),
    Identity("customer_tier", ("cust_tier",), None, "customer"),
    Identity("priority", ("priority",), None, "context"),
)

# The route's usual promised lead (days from order to promise) over earlier orders.
ROUTE_LEAD_N, ROUTE_LEAD_SUM = "route_lead_n", "route_lead_sum"
NET_N, NET_M = "net_n", "net_m"
NET_RECENT_N, NET_RECENT_M = "net_recent_n", "net_recent_m"


CATALOGUE = {identity.name: identity for identity in _CATALOGUE}


def named(name: str) -> Identity:
    """The identity called ``name`` (a catalogue entry, or a text ``x_*`` column)."""
    if name in CATALOGUE:
        return CATALOGUE[name]
    if name.startswith("x_"):
        return Identity(name, (name,), None, "context")
    raise ValueError(f"unknown identity {name!r}; known: {sorted(CATALOGUE)} and x_* columns")


def in_state(names: Iterable[str]) -> list[str]:
    """Names of the identities whose counts are among the state value ``names``."""
    return [
        n[len("ids_") : -len("_n")]
        for n in names
        if n.startswith("ids_") and n.endswith("_n") and not n.endswith("_recent_n")
    ]


def choose(orders: pd.DataFrame, master_names: set[str]) -> tuple[Identity, ...]:
    """The identities this export supports: parts present among the order columns
    (``orders``) and the master values (``master_names``, see ``MasterData.names``).

    A route needs the location and at least one of carrier and ship method (else it is
    the location itself); text ``x_*`` columns with at most :data:`MAX_FREE_LEVELS`
    values get one identity each, at most :data:`MAX_FREE` of them.
    """
    present = set(orders.columns) | set(master_names)
    out: list[Identity] = []
    for identity in _CATALOGUE:
        parts = tuple(p for p in identity.parts if p in present)
        if identity.name == "route":
            if len(parts) < 2:
                continue
        elif parts != identity.parts:
            continue
        parent = identity.parent if any(i.name == identity.parent for i in out) else None
        out.append(Identity(identity.name, parts, parent, identity.family, identity.recent))
    free = [
        c
        for c in sorted(orders.columns)
        if str(c).startswith("x_") and is_text(orders[c]) and orders[c].nunique() <= MAX_FREE_LEVELS
    ]
    out += [Identity(c, (c,), None, "context") for c in free[:MAX_FREE]]
    return tuple(out)


def is_text(column: pd.Series) -> bool:
    """A categorical column (not numbers or booleans), as ``features.order_fields`` reads it."""
    return not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column))


def route_of(identities: tuple[Identity, ...]) -> Identity | None:
    return next((i for i in identities if i.name == "route"), None)


def key_of(values: Sequence[Any]) -> tuple | None:
    """A key from its part values, as text; None when a part is missing (no key)."""
    key = []
    for value in values:
        if value is None or (isinstance(value, float) and value != value):
            return None
        key.append(value if type(value) is str else str(value))
    return tuple(key)


def line_key(parts: tuple[str, ...], values: Mapping[str, Any]) -> tuple | None:
    """The key of one line whose part values ``values`` holds (missing parts: no key)."""
    return key_of([values.get(part) for part in parts])
