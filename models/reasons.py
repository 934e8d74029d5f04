"""Reason text a sales rep understands, one sentence per driver family.

A family's SHAP contribution says *how much* it pushed the risk up; the sentence says
*why*, from the same values the model saw ("only 12 of 40 available at DAL; next
receipt 2025-03-14, after the promised date"). Numbers come from the line fields and
point-in-time state values, never from the model internals. Pure functions of
arrays and a row index: no pandas on the request path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from features.risk_identities import RECENT_DAYS, named

Values = Mapping[str, np.ndarray]
RATE_PREFIX = "miss_rate_"


def _get(values: Values, name: str, k: int, default: float = math.nan) -> Any:
    column = values.get(name)
    return default if column is None else column[k]


def _num(value: Any) -> str:
    value = float(value)
    return f"{value:,.0f}" if value == round(value) else f"{value:,.1f}"


def _date(day: Any) -> str:
    return str(np.datetime64(int(day), "D"))


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def _ok(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _inventory(k: int, inputs: Values, derived: Values) -> str:
    qty = float(inputs["qty"][k])
    loc = _get(inputs, "location_id", k, None) or "this location"
    avail = float(_get(inputs, "inv_available", k, 0.0))
    claimed = float(_get(inputs, "inv_claimed", k, 0.0))
    usable = max(0.0, avail - claimed)
    if _get(inputs, "inv_known", k, 1.0) == 0.0:
        text = f"no stock position for this item at {loc}"
    elif usable < qty:
        text = f"only {_num(usable)} of {_num(qty)} available at {loc}"
        if claimed > 0:
            text += f" ({_num(avail)} at the last stock count, {_num(claimed)} ordered since)"
    else:
        text = f"{_num(usable)} available at {loc} for {_num(qty)} ordered, a thin margin"
    receipt = _get(inputs, "inv_receipt_day", k)
    promised = float(inputs["promised_day"][k])
    due = float(_get(inputs, "inv_in_transit_due", k, 0.0))
    if _ok(receipt) and receipt > promised:
        text += f"; next receipt {_date(receipt)} is after the promised date {_date(promised)}"
    elif due > 0:
        text += f"; {_num(due)} more due by {_date(promised)}"
    elif "inv_receipt_day" in inputs and not _ok(receipt):
        text += "; no receipt on the way"
    short_rate = _get(derived, "item_location_short_rate", k)
    if _ok(short_rate) and short_rate >= 0.15:
        text += f"; {_pct(short_rate)} of past lines of this item here shipped short"
    return text


def _carrier(k: int, inputs: Values, derived: Values) -> str:
    carrier = _get(inputs, "carrier_id", k, None) or "the carrier"
    rate = _get(derived, "lane_late_rate", k)
    recent = _get(derived, "carrier_recent_late_rate", k)
    parts = []
    if _ok(rate):
        parts.append(f"carrier {carrier} delivered {_pct(rate)} of lines late on this lane")
    if _ok(recent) and (not _ok(rate) or recent > rate + 0.02):
        parts.append(f"{_pct(recent)} late over the last 14 days")
    return "; ".join(parts) or f"carrier {carrier} has little delivery history on this lane"


def _slack(k: int, inputs: Values, derived: Values) -> str:
    days = float(inputs["promised_day"][k] - inputs["order_day"][k])
    o2d_n = _get(inputs, "lane_o2d_n", k, 0.0)
    text = f"promised in {_num(days)} day{'s' if days != 1 else ''}"
    if o2d_n > 0:
        typical = inputs["lane_o2d_sum"][k] / o2d_n
        text += f"; deliveries on this lane take {typical:.1f} days on average"
    return text


def _load(k: int, inputs: Values, derived: Values) -> str:
    loc = _get(inputs, "location_id", k, None) or "the warehouse"
    recent = _get(derived, "load_recent", k)
    if _ok(recent):
        return f"{loc} handled {_pct(recent)} of its usual daily lines over the last 3 days"
    return f"{loc} is busier than usual today"


def _label(name: str, values: list[str]) -> str:
    """How a reason names an identity: "route DAL → CR03 ground", "supplier S9 at DAL"."""
    labels = {
        "route": lambda v: f"route {' → '.join(v[:2])}{' ' + v[2] if len(v) > 2 else ''}",
        "supplier_location": lambda v: f"supplier {v[0]} at {v[1]}",
        "customer_region": lambda v: f"customers in region {v[0]}",
        "customer_segment": lambda v: f"{v[0]} customers",
        "customer_tier": lambda v: f"tier {v[0]} customers",
        "priority": lambda v: f"{v[0]} priority orders",
    }
    if name in labels:
        return labels[name](values)
    if name.startswith("x_"):
        return f"{name} = {values[0]}"
    return f"{name} {values[0]}"


def _identities(family: str, k: int, inputs: Values, derived: Values) -> list[tuple[float, str]]:
    """This line's identities of ``family`` with history, riskiest first, as (rate, text).

    The text gives the plain share of past lines that missed (not the shrunk estimate
    the model saw), and how many lines that share is of.
    """
    out = []
    for feature in derived:
        if not feature.startswith(RATE_PREFIX):
            continue
        identity = named(feature[len(RATE_PREFIX) :])
        n = float(_get(inputs, identity.n, k, 0.0))
        if identity.family != family or n < 1:
            continue
        values = [_get(inputs, part, k, None) for part in identity.parts]
        if not all(isinstance(v, str) for v in values):
            values = [None if v is None else str(v) for v in values]
        rate = float(_get(inputs, identity.m, k, 0.0)) / n
        text = f"{_label(identity.name, values)}: {_pct(rate)} of its past {_num(n)} lines missed"
        if identity.recent:
            recent_n = float(_get(inputs, identity.recent_n, k, 0.0))
            recent = float(_get(inputs, identity.recent_m, k, 0.0)) / max(recent_n, 1.0)
            if recent_n >= 10 and recent > rate + 0.02:
                text += f", {_pct(recent)} over the last {RECENT_DAYS} days"
        out.append((rate, text))
    return sorted(out, key=lambda pair: -pair[0])


def _network(k: int, inputs: Values) -> str:
    n = float(_get(inputs, "net_n", k, 0.0))
    if n < 1:
        return ""
    return f" (all lines: {_pct(float(_get(inputs, 'net_m', k, 0.0)) / n)})"


def _route(k: int, inputs: Values, derived: Values) -> str:
    found = _identities("route", k, inputs, derived)
    if not found:
        return "new route with no delivery history"
    text = "; ".join(t for _, t in found[:2]) + _network(k, inputs)
    lead = _get(derived, "lead_vs_route", k)
    if _ok(lead) and lead <= -1:
        text += f"; promised {_num(-lead)} days sooner than usual on this route"
    return text


def _customer(k: int, inputs: Values, derived: Values) -> str:
    rate = _get(derived, "customer_miss_rate", k)
    n = float(_get(inputs, "cust_outcomes", k, 0.0))
    if _ok(rate) and n > 0:
        text = f"{_pct(rate)} of this customer's past {_num(n)} lines missed their commitment"
    else:
        text = "new customer with no delivery history"
    found = _identities("customer", k, inputs, derived)
    return f"{text}; {found[0][1]}" if found else text


def _margin(k: int, inputs: Values, derived: Values, erosion: Any = None) -> str:
    item = _get(inputs, "item_id", k, None) or "this item"
    kind = "" if erosion is None else str(erosion.kind[k])
    usual = ""
    if erosion is not None and _ok(erosion.drop[k]) and erosion.drop[k] > 0:
        what = item if erosion.basis[k] == "item" else "this category"
        usual = f"{_pct(erosion.drop[k])} below this customer's usual price for {what}"
    if kind == "below_cost":
        text = f"priced below cost for {item} (margin {_pct(erosion.margin[k])})"
        return f"{text}, {usual}" if usual else text
    if kind == "price_mismatch":
        disc = _get(inputs, "discount_pct", k)
        return (
            f"price {_pct(erosion.mismatch[k])} below list price less the recorded "
            f"{_num(disc)}% discount for {item}"
        )
    if kind == "price_drop":
        return f"priced {usual}"
    if kind == "discount_jump":
        disc = _get(inputs, "discount_pct", k)
        return (
            f"discount {_num(disc)}% is {_num(erosion.discount_jump[k])} points above "
            f"this customer's usual for {item}"
        )
    if usual and erosion.drop[k] >= 0.05:
        return f"priced {usual}"
    margin = _get(derived, "margin_pct", k)
    if _ok(margin):
        return f"pricing pattern of this line (margin {_pct(margin)} on {item})"
    return f"pricing pattern of this line ({item})"


def _anomaly(k: int, inputs: Values, derived: Values) -> str:
    qty = float(inputs["qty"][k])
    for name, what in (
        ("qty_vs_customer_item", "this customer's usual for this item"),
        ("qty_vs_customer", "this customer's usual line"),
        ("qty_vs_item_location", "a usual line of this item here"),
    ):
        dev = _get(derived, name, k)
        if _ok(dev):
            return f"quantity {_num(qty)} is {math.exp(dev):.1f}× {what}"
    lines = _get(inputs, "order_lines", k)
    return f"unusual order ({_num(lines)} lines, {_num(qty)} units)"


def _master(k: int, inputs: Values, derived: Values) -> str:
    item = _get(inputs, "item_id", k, None) or "the item"
    problems = []
    if _get(derived, "item_unknown", k, 0.0) == 1.0:
        problems.append(f"item {item} is missing from the item master")
    if _get(derived, "item_inactive", k, 0.0) == 1.0:
        problems.append(f"item {item} is inactive")
    if _get(derived, "cost_missing", k, 0.0) == 1.0:
        problems.append(f"item {item} has no cost")
    if _get(derived, "customer_unknown", k, 0.0) == 1.0:
        problems.append("customer is missing from the customer master")
    return "; ".join(problems) or "incomplete master data"


def _context(k: int, inputs: Values, derived: Values) -> str:
    found = _identities("context", k, inputs, derived)
    if found:
        return "; ".join(t for _, t in found[:2]) + _network(k, inputs)
    priority = _get(inputs, "priority", k, None)
    if priority:
        return f"{priority} priority order"
    recent = _get(derived, "network_recent_miss_rate", k)
    if _ok(recent):
        return f"{_pct(recent)} of all lines missed over the last {RECENT_DAYS} days"
    return "order context (extra order attributes)"


REASONS: dict[str, Callable[..., str]] = {
    "inventory_shortfall": _inventory,
    "carrier_delay": _carrier,
    "route": _route,
    "slack": _slack,
    "warehouse_load": _load,
    "customer": _customer,
    "margin_erosion": _margin,
    "order_anomaly": _anomaly,
    "master_data": _master,
    "context": _context,
}


def reason(family: str, k: int, inputs: Values, derived: Values, erosion: Any = None) -> str:
    """The sentence for ``family`` on line ``k``."""
    if family == "margin_erosion":
        return _margin(k, inputs, derived, erosion)
    return REASONS[family](k, inputs, derived)
