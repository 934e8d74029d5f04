"""The order-risk features, declared: name, driver family, the inputs each needs, and the
direction of its effect where it is known (a monotone constraint of the model).

:mod:`features.order_risk` derives them; a feature whose inputs a dataset lacks (an
optional column or table) is simply not built. Besides these, every identity the state
tracks (``features.risk_identities``) has its shrunk miss rate, ``miss_rate_<identity>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from features.risk_identities import named


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    family: str
    requires: tuple[str, ...]
    monotone: int = 0  # +1: never lowers risk as it grows; -1: never raises it
    categorical: bool = False


def _s(name: str, family: str, *requires: str, monotone: int = 0, cat: bool = False) -> FeatureSpec:
    return FeatureSpec(name, family, requires, monotone, cat)


SPECS: tuple[FeatureSpec, ...] = (
    # inventory shortfall at the shipping location
    _s("inv_available", "inventory_shortfall", "inv_available", monotone=-1),
    _s("inv_cover", "inventory_shortfall", "inv_available", "inv_claimed", monotone=-1),
    _s("inv_shortfall_share", "inventory_shortfall", "inv_available", "inv_claimed", monotone=1),
    _s("inv_in_transit_due", "inventory_shortfall", "inv_in_transit_due", monotone=-1),
    _s("receipt_after_promise", "inventory_shortfall", "inv_receipt_day", monotone=1),
    _s("inv_claimed_share", "inventory_shortfall", "inv_available", "inv_claimed", monotone=1),
    _s("inv_quarantined_share", "inventory_shortfall", "inv_quarantined", monotone=1),
    _s("inv_days_after_line", "inventory_shortfall", "inv_available", "il_units_28d", monotone=-1),
    _s("inv_elsewhere_cover", "inventory_shortfall", "inv_elsewhere"),
    _s("inv_position_known", "inventory_shortfall", "inv_known"),
    _s("item_location_short_rate", "inventory_shortfall", "il_outcomes", monotone=1),
    _s("item_location_demand", "inventory_shortfall", "il_units_28d"),
    # carrier delay
    _s("lane_late_rate", "carrier_delay", "lane_late_n", monotone=1),
    _s("lane_volume", "carrier_delay", "lane_late_n"),
    _s("carrier_recent_late_rate", "carrier_delay", "carrier_recent_n", monotone=1),
    _s("carrier_late_trend", "carrier_delay", "carrier_recent_n"),
    _s("carrier_mode", "carrier_delay", "carrier_mode", cat=True),
    _s("ship_method", "carrier_delay", "ship_method", cat=True),
    # route (location × carrier × ship method): besides the miss rates of every identity
    # (``miss_rate_<identity>``, built from the state values present, see identity_spec)
    _s("recent_miss_rate_route", "route", "ids_route_recent_n", "ids_route_n", "net_n", monotone=1),
    _s("route_volume", "route", "ids_route_n"),
    # slack between order and promise
    _s("promised_days", "slack", "promised_day", monotone=-1),
    _s("slack_vs_lane", "slack", "lane_o2d_n", monotone=-1),
    _s("slack_vs_transit", "slack", "lane_transit_n", monotone=-1),
    _s("requested_days", "slack", "requested_day"),
    _s("promised_after_requested", "slack", "requested_day", monotone=-1),
    _s("lead_vs_route", "slack", "promised_day", "route_lead_n", monotone=-1),
    _s("order_hour", "slack", "order_hour"),
    _s("order_weekday", "slack", "order_weekday"),
    # warehouse load at the shipping location
    _s("load_recent", "warehouse_load", "loc_lines_3d"),
    _s("load_today", "warehouse_load", "loc_lines_today"),
    # customer
    _s("customer_miss_rate", "customer", "cust_outcomes", monotone=1),
    _s("customer_history", "customer", "cust_lines"),
    _s("customer_tier", "customer", "cust_tier", cat=True),
    _s("customer_segment", "customer", "cust_segment", cat=True),
    # margin erosion
    _s("price_vs_item_usual", "margin_erosion", "ci_pi_n"),
    _s("price_vs_category_usual", "margin_erosion", "cc_pi_n"),
    _s("margin_pct", "margin_erosion", "item_cost"),
    _s("discount_pct", "margin_erosion", "discount_pct"),
    _s("discount_vs_usual", "margin_erosion", "cust_disc_n"),
    _s("price_vs_recorded_discount", "margin_erosion", "discount_pct"),
    # order anomaly
    _s("qty_vs_customer_item", "order_anomaly", "ci_lines"),
    _s("qty_vs_customer", "order_anomaly", "cust_lines"),
    _s("qty_vs_item_location", "order_anomaly", "il_lines"),
    _s("order_lines", "order_anomaly", "order_lines"),
    _s("log_qty", "order_anomaly", "qty"),
    # master data
    _s("item_unknown", "master_data", "item_known"),
    _s("item_inactive", "master_data", "item_active"),
    _s("cost_missing", "master_data", "item_cost"),
    _s("customer_unknown", "master_data", "cust_known"),
    # context: priority, the network's recent miss rate, and every x_* order column
    _s("priority", "context", "priority", cat=True),
    _s("network_recent_miss_rate", "context", "net_recent_n", "net_n", monotone=1),
)
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}
RATE_PREFIX = "miss_rate_"


def identity_spec(identity: str) -> FeatureSpec:
    """The feature of an identity's shrunk miss rate (``features.risk_identities``)."""
    found = named(identity)
    return _s(
        f"{RATE_PREFIX}{identity}", found.family, found.n, found.m, "net_n", "net_m", monotone=1
    )


def spec_of(name: str) -> FeatureSpec | None:
    """The spec of a feature: declared in :data:`SPECS`, an identity rate, or None (x_*)."""
    spec = SPEC_BY_NAME.get(name)
    if spec is None and name.startswith(RATE_PREFIX):
        return identity_spec(name[len(RATE_PREFIX) :])
    return spec
