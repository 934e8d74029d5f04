"""The order-risk feature set: line fields + point-in-time state values → feature matrix.

Features are built in two steps so that training and serving share the code that
matters. State values (what was known at ``order_ts``) come from
:func:`features.risk_history.state_values` over history or from
:meth:`features.risk_state.RiskState.values` live; line fields come from
:mod:`features.order_fields` (a frame, or one order's dictionaries).
:class:`OrderRiskFeatures` then turns both into the same matrix with one pure
function, :func:`derive`, on plain numpy arrays (no DataFrame per request).

Every feature is declared once (:data:`features.order_risk_specs.SPECS`) with its
driver family, the direction of its effect when known (monotone constraint: more
available stock never raises risk; a later promised date never does) and the inputs it
needs. A dataset without an optional column or table has fewer inputs, hence fewer
features; nothing else changes. Nothing here knows how the data was generated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.order_fields import CATEGORICAL_FIELDS

# Priors stays importable from here: models pickled before it had its own module name it so.
from features.order_risk_priors import CUSTOMER, Priors, eb_strength, level_rates
from features.order_risk_specs import RATE_PREFIX, SPECS, identity_spec, spec_of
from features.risk_identities import in_state, named
from features.risk_state import DEMAND_DAYS, LOAD_DAYS, log_price_index

FEATURE_SET = "order-risk"
FEATURE_SET_VERSION = "2"


# --- derivation -----------------------------------------------------------------------


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where the denominator is zero (no history is not zero).

    Called inside ``np.errstate(divide="ignore", invalid="ignore")`` by :func:`derive`.
    """
    out = num / den
    out[den <= 0] = np.nan
    return out


def _rate(events: np.ndarray, n: np.ndarray, prior: float, strength: float) -> np.ndarray:
    """Rate shrunk towards a prior: few observations say little."""
    return (events + prior * strength) / (n + strength)


def derive(
    inputs: Mapping[str, np.ndarray], names: Sequence[str], priors: Priors
) -> dict[str, np.ndarray]:
    """The named features from line fields + state values: one pure function for both paths.

    Categorical features come back as object arrays (encoded by the fitted feature set).
    """
    get = inputs.get
    qty = inputs["qty"]
    k = priors.strength
    cache: dict[str, np.ndarray] = {}

    def effective() -> np.ndarray:
        if "eff" not in cache:
            due = get("inv_in_transit_due")
            cache["eff"] = (
                inputs["inv_available"] + (0.0 if due is None else due) - inputs["inv_claimed"]
            )
        return cache["eff"]

    def logpi() -> np.ndarray:
        if "logpi" not in cache:
            cache["logpi"] = log_price_index(inputs["unit_price"], inputs["item_list_price"])
        return cache["logpi"]

    def carrier_rate() -> np.ndarray:
        return _rate(inputs["carrier_late"], inputs["carrier_late_n"], priors.late, k)

    def recent_rate() -> np.ndarray:
        # Shrunk towards the carrier's own long-run rate, so the trend is a real change.
        return (inputs["carrier_recent_late"] + carrier_rate() * k) / (
            inputs["carrier_recent_n"] + k
        )

    def daily_lines() -> np.ndarray:
        return _ratio(inputs["loc_lines_91d"], np.maximum(inputs["loc_days_91"], 1.0))

    def due() -> np.ndarray:
        value = get("inv_in_transit_due")
        return 0.0 if value is None else value

    def network_rate() -> np.ndarray:
        if "net" not in cache:
            cache["net"] = _rate(inputs["net_m"], inputs["net_n"], priors.miss, k)
        return cache["net"]

    def identity_rate(name: str) -> np.ndarray:
        """Shrunk towards the parent identity's rate, at the top the network's."""
        key = f"rate:{name}"
        if key not in cache:
            identity = named(name)
            parent = identity.parent
            base = (
                identity_rate(parent)
                if parent is not None and named(parent).n in inputs
                else network_rate()
            )
            strength = priors.of(name)
            cache[key] = _rate(inputs[identity.m], inputs[identity.n], base, strength)
        return cache[key]

    formulas: dict[str, Callable[[], Any]] = {
        "inv_available": lambda: inputs["inv_available"],
        "inv_cover": lambda: effective() / qty,
        "inv_shortfall_share": lambda: np.clip(qty - effective(), 0.0, qty) / qty,
        "inv_in_transit_due": lambda: inputs["inv_in_transit_due"],
        "receipt_after_promise": lambda: inputs["inv_receipt_day"] - inputs["promised_day"],
        "inv_claimed_share": lambda: (
            inputs["inv_claimed"] / (inputs["inv_available"] + due() + 1.0)
        ),
        "inv_quarantined_share": lambda: inputs["inv_quarantined"] / (inputs["inv_on_hand"] + 1.0),
        "inv_days_after_line": lambda: (
            (effective() - qty) / (inputs["il_units_28d"] / DEMAND_DAYS + 0.1)
        ),
        "inv_elsewhere_cover": lambda: inputs["inv_elsewhere"] / qty,
        "inv_position_known": lambda: inputs["inv_known"],
        "item_location_short_rate": lambda: _rate(
            inputs["il_shorts"], inputs["il_outcomes"], priors.short, k
        ),
        "item_location_demand": lambda: inputs["il_units_28d"] / DEMAND_DAYS,
        "lane_late_rate": lambda: _rate(inputs["lane_late"], inputs["lane_late_n"], priors.late, k),
        "lane_volume": lambda: np.log1p(inputs["lane_late_n"]),
        "carrier_recent_late_rate": recent_rate,
        "carrier_late_trend": lambda: recent_rate() - carrier_rate(),
        "carrier_mode": lambda: inputs["carrier_mode"],
        "ship_method": lambda: inputs["ship_method"],
        "recent_miss_rate_route": lambda: _rate(
            inputs["ids_route_recent_m"], inputs["ids_route_recent_n"], identity_rate("route"), k
        ),
        "route_volume": lambda: np.log1p(inputs["ids_route_n"]),
        "lead_vs_route": lambda: (
            inputs["promised_day"]
            - inputs["order_day"]
            - _ratio(inputs["route_lead_sum"], inputs["route_lead_n"])
        ),
        "promised_days": lambda: inputs["promised_day"] - inputs["order_day"],
        "slack_vs_lane": lambda: (
            inputs["promised_day"]
            - inputs["order_day"]
            - _ratio(inputs["lane_o2d_sum"], inputs["lane_o2d_n"])
        ),
        "slack_vs_transit": lambda: (
            inputs["promised_day"]
            - inputs["order_day"]
            - _ratio(inputs["lane_transit_sum"], inputs["lane_transit_n"])
        ),
        "requested_days": lambda: inputs["requested_day"] - inputs["order_day"],
        "promised_after_requested": lambda: inputs["promised_day"] - inputs["requested_day"],
        "order_hour": lambda: inputs["order_hour"],
        "order_weekday": lambda: inputs["order_weekday"],
        "load_recent": lambda: _ratio(inputs["loc_lines_3d"] / LOAD_DAYS, daily_lines()),
        "load_today": lambda: _ratio(inputs["loc_lines_today"], daily_lines()),
        "customer_miss_rate": lambda: _rate(
            inputs["cust_misses"], inputs["cust_outcomes"], priors.miss, priors.of(CUSTOMER)
        ),
        "customer_history": lambda: np.log1p(inputs["cust_lines"]),
        "customer_tier": lambda: inputs["cust_tier"],
        "customer_segment": lambda: inputs["cust_segment"],
        "price_vs_item_usual": lambda: logpi() - _ratio(inputs["ci_logpi_sum"], inputs["ci_pi_n"]),
        "price_vs_category_usual": lambda: (
            logpi() - _ratio(inputs["cc_logpi_sum"], inputs["cc_pi_n"])
        ),
        "margin_pct": lambda: np.clip(
            _ratio(inputs["unit_price"] - inputs["item_cost"], inputs["unit_price"]), -5.0, 1.0
        ),
        "discount_pct": lambda: inputs["discount_pct"],
        "discount_vs_usual": lambda: (
            inputs["discount_pct"] - _ratio(inputs["cust_disc_sum"], inputs["cust_disc_n"])
        ),
        "price_vs_recorded_discount": lambda: np.log(
            _ratio(
                inputs["unit_price"],
                inputs["item_list_price"] * (1.0 - inputs["discount_pct"] / 100.0),
            )
        ),
        "qty_vs_customer_item": lambda: (
            np.log(qty) - _ratio(inputs["ci_logqty_sum"], inputs["ci_lines"])
        ),
        "qty_vs_customer": lambda: (
            np.log(qty) - _ratio(inputs["cust_logqty_sum"], inputs["cust_lines"])
        ),
        "qty_vs_item_location": lambda: (
            np.log(qty) - _ratio(inputs["il_logqty_sum"], inputs["il_lines"])
        ),
        "order_lines": lambda: inputs["order_lines"],
        "log_qty": lambda: np.log(qty),
        "item_unknown": lambda: 1.0 - inputs["item_known"],
        "item_inactive": lambda: np.where(
            np.isnan(inputs["item_active"]), np.nan, inputs["item_active"] == 0.0
        ),
        "cost_missing": lambda: np.where(
            inputs["item_known"] == 1.0,
            np.isnan(inputs["item_cost"]) | (inputs["item_cost"] == 0.0),
            np.nan,
        ),
        "customer_unknown": lambda: 1.0 - inputs["cust_known"],
        "priority": lambda: inputs["priority"],
        "network_recent_miss_rate": lambda: _rate(
            inputs["net_recent_m"], inputs["net_recent_n"], network_rate(), k
        ),
    }
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in names:
            if name in formulas:
                value = formulas[name]()
            elif name.startswith(RATE_PREFIX):
                value = identity_rate(name[len(RATE_PREFIX) :])
            else:  # x_* context columns pass through as they are.
                value = inputs[name]
            out[name] = value if isinstance(value, np.ndarray) else np.full(len(qty), value)
    return out


# --- the fitted feature set -----------------------------------------------------------


class OrderRiskFeatures:
    """The fitted feature set: which features the data supports, category codes, priors.

    ``fit`` decides the feature list from the inputs present (optional columns absent →
    fewer features), codes each categorical by its training miss rate (so one split
    separates risky from safe values; unseen values → missing) and fits the priors
    history rates are shrunk towards. ``transform`` is the same on a million lines or
    on one order's five.
    """

    def __init__(
        self, prior_strength: float = 10.0, max_categories: int = 64, empirical_bayes: bool = True
    ) -> None:
        self.prior_strength = prior_strength
        self.max_categories = max_categories
        self.empirical_bayes = empirical_bayes

    def fit(
        self, fields: Mapping[str, np.ndarray], state: Mapping[str, np.ndarray], y: np.ndarray
    ) -> OrderRiskFeatures:
        if self.prior_strength < 0:
            raise ValueError(f"prior_strength must be >= 0, got {self.prior_strength}")
        inputs = {**fields, **state}
        y = np.asarray(y, dtype=float)
        if len(y) != len(inputs["qty"]):
            raise ValueError(f"y has {len(y)} rows, the lines {len(inputs['qty'])}")
        names = [s.name for s in SPECS if all(r in inputs for r in s.requires)]
        names += [identity_spec(i).name for i in in_state(state)]
        free = sorted(k for k in fields if k.startswith("x_"))
        self.priors_ = Priors(
            late=_pooled(state, "lane_late", "lane_late_n", 0.1),
            miss=_pooled(state, "cust_misses", "cust_outcomes", float(np.mean(y))),
            short=_pooled(state, "il_shorts", "il_outcomes", 0.1),
            strength=self.prior_strength,
            strengths=self._strengths(inputs, in_state(state), y) if self.empirical_bayes else {},
        )
        self.feature_names_ = [*names, *free]
        derived = derive(inputs, self.feature_names_, self.priors_)
        self.categories_: dict[str, dict[str, float]] = {}
        specs = [spec_of(n) for n in self.feature_names_]
        for name, spec in zip(self.feature_names_, specs, strict=True):
            if (spec is not None and spec.categorical) or derived[name].dtype == object:
                self.categories_[name] = self._codes(derived[name], y)
        self.families_ = [spec.family if spec else "context" for spec in specs]
        self.monotone_ = [spec.monotone if spec else 0 for spec in specs]
        return self

    @staticmethod
    def _strengths(
        inputs: Mapping[str, np.ndarray], identities: Sequence[str], y: np.ndarray
    ) -> dict[str, float]:
        """Empirical-Bayes strength of each identity's miss rate (towards its parent's, as
        :func:`derive` shrinks it) and of the customer's, from the training lines."""
        keys: dict[str, np.ndarray] = {}
        out: dict[str, float] = {}
        for name in identities:
            identity = named(name)
            parts = [p for p in identity.parts if p in inputs]
            if not parts:
                continue
            keys[name] = _keys(inputs, parts)
            parent = identity.parent if identity.parent in keys else None
            rates = None if parent is None else level_rates(keys[parent], y)
            out[name] = eb_strength(keys[name], y, rates)
        if "customer_id" in inputs:
            out[CUSTOMER] = eb_strength(_keys(inputs, ["customer_id"]), y)
        return out

    def _codes(self, values: np.ndarray, y: np.ndarray) -> dict[str, float]:
        frame = pd.DataFrame({"v": pd.Series(values, dtype=object).astype("string"), "y": y})
        stats = frame.dropna(subset=["v"]).groupby("v")["y"].agg(["mean", "size"])
        stats = stats.sort_values("size", ascending=False).head(self.max_categories)
        ranked = stats.sort_values(["mean", "size"]).index.tolist()
        return {str(v): float(code) for code, v in enumerate(ranked)}

    def transform(
        self, fields: Mapping[str, np.ndarray], state: Mapping[str, np.ndarray]
    ) -> np.ndarray:
        """The feature matrix ``(n_lines, n_features)`` in ``feature_names_`` order."""
        return self.matrix(self.derive(fields, state))

    def matrix(self, derived: Mapping[str, np.ndarray]) -> np.ndarray:
        """Stack derived features into ``(n_lines, n_features)`` float64, C order."""
        names = self.feature_names_
        X = np.empty((len(derived[names[0]]), len(names)))
        for j, name in enumerate(names):
            X[:, j] = derived[name]
        return X

    def derive(
        self, fields: Mapping[str, np.ndarray], state: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Features by name (categoricals encoded), for the matrix and for reason text."""
        inputs = {**fields, **state}
        n = len(inputs["qty"])
        for key in _needed_inputs(tuple(self.feature_names_)):
            if key not in inputs:  # serving may omit an optional field the model knows
                text = key in CATEGORICAL_FIELDS
                inputs[key] = np.full(n, None if text else np.nan, dtype=object if text else float)
        derived = derive(inputs, self.feature_names_, self.priors_)
        for name, codes in self.categories_.items():
            derived[name] = np.array(
                [codes.get(str(v), np.nan) if v is not None else np.nan for v in derived[name]],
                dtype=float,
            )
        return derived


def _keys(inputs: Mapping[str, np.ndarray], parts: Sequence[str]) -> np.ndarray:
    """Each line's key text over ``parts`` (None when a part is missing)."""
    series = [pd.Series(inputs[p], dtype=object) for p in parts]
    text = series[0].astype(str)
    for column in series[1:]:
        text = text + "|" + column.astype(str)
    missing = np.logical_or.reduce([column.isna().to_numpy() for column in series])
    return text.where(~missing, None).to_numpy(dtype=object)


def _pooled(state: Mapping[str, np.ndarray], events: str, n: str, default: float) -> float:
    if events not in state or n not in state or float(np.sum(state[n])) <= 0:
        return default
    return float(np.sum(state[events]) / np.sum(state[n]))


@functools.cache
def _needed_inputs(names: tuple[str, ...]) -> tuple[str, ...]:
    needed: dict[str, None] = {}
    for name in names:
        spec = spec_of(name)
        for key in spec.requires if spec is not None else (name,):
            needed[key] = None
    return tuple(needed)
