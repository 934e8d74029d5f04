"""Master data of the simulated distributor: items, locations, customers, carriers, lanes.

Everything here is drawn once per seed; the hidden parameters that drive behaviour
(item appeal, customer price sensitivity, lane reliability, …) are kept on the
:class:`World` and never written to the contract tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

LOCATION_CODES = ("DAL", "ATL", "CHI", "RNO", "PHX", "NJ1", "SEA", "DEN")
REGIONS = (
    "south",
    "southeast",
    "midwest",
    "west",
    "southwest",
    "northeast",
    "northwest",
    "mountain",
)
SEGMENTS = ("contractor", "retail", "industrial")
# Price sensitivity of substitute acceptance by segment (× U(0.6, 1.4) per customer):
# contractors and retailers trade down; industrial buyers read price as quality.
SEGMENT_PRICE = np.array([1.5, 4.0, -3.0])
MATERIALS = ("steel", "aluminium", "plastic", "wood", "composite")
GRADES = ("A", "B", "C")
PACK_SIZES = np.array([1, 6, 12, 24, 50])
CATEGORY_WORDS = (
    "fasteners",
    "adhesives",
    "cables",
    "fittings",
    "valves",
    "filters",
    "bearings",
    "hoses",
    "gloves",
    "lamps",
    "switches",
    "pumps",
    "brackets",
    "sealants",
    "tapes",
    "abrasives",
    "paints",
    "hinges",
    "locks",
    "clamps",
    "pipes",
    "wires",
    "fuses",
    "belts",
    "chains",
    "springs",
    "gaskets",
    "nozzles",
    "brushes",
    "ladders",
)


@dataclass(frozen=True)
class ScaleConfig:
    n_items: int
    n_locations: int
    n_customers: int
    n_carriers: int
    n_days: int
    lines_per_day: float  # mean order lines per day over the whole network
    n_categories: int
    n_suppliers: int


SCALES: dict[str, ScaleConfig] = {
    "small": ScaleConfig(150, 3, 120, 4, 240, 70.0, 6, 12),
    "medium": ScaleConfig(500, 4, 600, 6, 730, 520.0, 12, 30),
    "large": ScaleConfig(2000, 5, 3000, 8, 1095, 3000.0, 30, 80),
}
START = pd.Timestamp("2024-01-01")


@dataclass
class World:
    config: ScaleConfig
    dates: pd.DatetimeIndex
    # items
    item_ids: np.ndarray
    category: np.ndarray  # int codes
    brand: np.ndarray  # int codes
    list_price: np.ndarray
    unit_cost: np.ndarray  # NaN where missing in the master (the true cost is cost_true)
    cost_true: np.ndarray
    pack_size: np.ndarray
    attr_size: np.ndarray
    attr_grade: np.ndarray  # int codes
    attr_material: np.ndarray  # int codes
    supplier: np.ndarray
    lead_time: np.ndarray  # nominal supplier lead time (days)
    lead_cv: np.ndarray  # supplier lead-time variability
    moq: np.ndarray
    order_multiple: np.ndarray
    active: np.ndarray
    in_master: np.ndarray  # False for items missing from the exported item master
    appeal: np.ndarray  # hidden: how readily an item is accepted as a substitute
    line_qty_mean: np.ndarray  # mean units per order line
    elasticity: np.ndarray
    # locations
    location_ids: np.ndarray
    location_region: np.ndarray  # int codes into REGIONS
    # customers
    customer_ids: np.ndarray
    customer_region: np.ndarray
    customer_segment: np.ndarray
    customer_tier: np.ndarray  # 0=A, 1=B, 2=C
    customer_weight: np.ndarray
    contract_discount: np.ndarray
    propensity: np.ndarray  # hidden: general willingness to accept substitutes
    brand_loyalty: np.ndarray
    grade_preference: np.ndarray  # > 0: welcomes a better grade; < 0: a cheaper one
    material_weight: np.ndarray
    price_sensitivity: np.ndarray
    # carriers
    carrier_ids: np.ndarray
    carrier_mode: np.ndarray  # 0=parcel, 1=ltl
    carrier_effect: np.ndarray  # hidden log-odds of lateness
    lane_effect: np.ndarray  # [carrier, location, region] hidden log-odds
    transit_days: np.ndarray  # [carrier, location, region]
    disrupted: np.ndarray  # [day, carrier] bool
    # Events a story injects (None in the standard world):
    late_shock: np.ndarray | None = None  # [day, carrier] added log-odds of lateness
    price_level: np.ndarray | None = None  # [day, category] factor on list prices

    @property
    def n_days(self) -> int:
        return len(self.dates)

    def list_price_on(self, items: np.ndarray, days: np.ndarray) -> np.ndarray:
        """List prices of ``items`` on ``days`` (broadcast together)."""
        if self.price_level is None:
            return self.list_price[items]
        return self.list_price[items] * self.price_level[days, self.category[items]]


def build_world(config: ScaleConfig, rng: np.random.Generator) -> World:
    n_i, n_l, n_c, n_k = config.n_items, config.n_locations, config.n_customers, config.n_carriers
    dates = pd.date_range(START, periods=config.n_days, freq="D")

    # Items: categories with their own price level, brands nested in categories.
    category = rng.integers(0, config.n_categories, n_i)
    brands_per_cat = rng.integers(3, 7, config.n_categories)
    brand_offset = np.concatenate([[0], np.cumsum(brands_per_cat)[:-1]])
    brand = brand_offset[category] + (rng.random(n_i) * brands_per_cat[category]).astype(int)
    cat_price = np.exp(rng.normal(3.0, 0.9, config.n_categories))
    brand_premium = np.exp(rng.normal(0.0, 0.15, brands_per_cat.sum()))
    list_price = np.round(
        cat_price[category] * brand_premium[brand] * np.exp(rng.normal(0, 0.35, n_i)), 2
    )
    cost_true = np.round(list_price * rng.uniform(0.55, 0.8, n_i), 2)
    unit_cost = np.where(rng.random(n_i) < 0.01, np.nan, cost_true)
    pack_size = rng.choice(PACK_SIZES, n_i, p=[0.45, 0.2, 0.2, 0.1, 0.05])
    attr_size = np.round(rng.uniform(1, 100, n_i), 1)
    attr_grade = rng.choice(3, n_i, p=[0.3, 0.45, 0.25])
    attr_material = rng.integers(0, len(MATERIALS), n_i)
    supplier = rng.integers(0, config.n_suppliers, n_i)
    supplier_lead = rng.integers(4, 29, config.n_suppliers)
    supplier_cv = rng.uniform(0.05, 0.45, config.n_suppliers)
    line_qty_mean = np.round(1.0 + np.exp(rng.normal(1.3, 0.8, n_i)) / np.sqrt(pack_size), 2)
    moq = rng.choice([0, 5, 10, 25, 50, 100], n_i, p=[0.35, 0.15, 0.2, 0.15, 0.1, 0.05])
    order_multiple = rng.choice([1, 2, 5, 6, 10, 12], n_i, p=[0.4, 0.1, 0.15, 0.1, 0.15, 0.1])
    active = rng.random(n_i) > 0.04

    # Locations and customers.
    location_region = np.arange(n_l) % len(REGIONS)
    customer_region = np.where(
        rng.random(n_c) < 0.75,
        location_region[rng.integers(0, n_l, n_c)],
        rng.integers(0, len(REGIONS), n_c),
    )
    customer_segment = rng.choice(len(SEGMENTS), n_c, p=[0.45, 0.3, 0.25])
    customer_tier = rng.choice(3, n_c, p=[0.15, 0.35, 0.5])
    lo = np.array([0.12, 0.06, 0.0])[customer_tier]
    hi = np.array([0.20, 0.12, 0.06])[customer_tier]
    contract_discount = np.round(rng.uniform(lo, hi), 3)
    customer_weight = np.exp(rng.normal(0, 1.1, n_c)) * np.array([3.0, 1.5, 1.0])[customer_tier]
    segment_price = SEGMENT_PRICE[customer_segment]

    # Carriers: mode, reliability, lanes (carrier × origin location × customer region).
    carrier_mode = (np.arange(n_k) % 3 == 2).astype(int)  # every third carrier is LTL
    carrier_effect = rng.normal(0, 0.45, n_k)
    lane_effect = rng.normal(0, 0.45, (n_k, n_l, len(REGIONS)))
    same_region = location_region[None, :, None] == np.arange(len(REGIONS))[None, None, :]
    base_transit = np.where(same_region, 1, rng.integers(2, 5, (1, n_l, len(REGIONS))))
    transit_days = base_transit + carrier_mode[:, None, None] + rng.integers(0, 2, (n_k, n_l, 1))
    disrupted = np.zeros((config.n_days, n_k), dtype=bool)
    for k in range(n_k):
        n_windows = rng.poisson(config.n_days / 365 * 2.0)
        starts = rng.integers(0, config.n_days, n_windows)
        lengths = rng.integers(5, 21, n_windows)
        for s, length in zip(starts, lengths, strict=True):
            disrupted[s : s + length, k] = True

    return World(
        config=config,
        dates=dates,
        item_ids=np.array([f"I{i:05d}" for i in range(n_i)]),
        category=category,
        brand=brand,
        list_price=list_price,
        unit_cost=unit_cost,
        cost_true=cost_true,
        pack_size=pack_size,
        attr_size=attr_size,
        attr_grade=attr_grade,
        attr_material=attr_material,
        supplier=supplier,
        lead_time=supplier_lead[supplier],
        lead_cv=supplier_cv[supplier],
        moq=moq,
        order_multiple=order_multiple,
        active=active,
        in_master=~(active & (rng.random(n_i) < 0.005)),
        appeal=rng.normal(0, 0.2, n_i),
        line_qty_mean=line_qty_mean,
        elasticity=rng.uniform(1.5, 3.5, n_i),
        location_ids=np.array(LOCATION_CODES[:n_l]),
        location_region=location_region,
        customer_ids=np.array([f"C{i:05d}" for i in range(n_c)]),
        customer_region=customer_region,
        customer_segment=customer_segment,
        customer_tier=customer_tier,
        customer_weight=customer_weight,
        contract_discount=contract_discount,
        propensity=rng.normal(0, 0.7, n_c),
        brand_loyalty=np.where(
            rng.random(n_c) < 0.35, rng.uniform(2.0, 4.0, n_c), rng.uniform(-0.5, 0.5, n_c)
        ),
        price_sensitivity=segment_price * rng.uniform(0.6, 1.4, n_c),
        grade_preference=rng.choice([-1.5, 0.0, 1.5], n_c),
        material_weight=np.where(rng.random(n_c) < 0.3, 4.5, 0.2),
        carrier_ids=np.array([f"CR{k:02d}" for k in range(n_k)]),
        carrier_mode=carrier_mode,
        carrier_effect=carrier_effect,
        lane_effect=lane_effect,
        transit_days=transit_days,
        disrupted=disrupted,
    )


def category_names(n: int) -> np.ndarray:
    """Names of ``n`` categories: the words, then the words again with a number."""
    words = len(CATEGORY_WORDS)
    return np.array(
        [CATEGORY_WORDS[k % words] + ("" if k < words else f"-{k // words + 1}") for k in range(n)]
    )


def master_tables(world: World) -> dict[str, pd.DataFrame]:
    """The contract's master-data tables."""
    cat_names = category_names(world.config.n_categories)
    brand_names = np.array([f"B{b:03d}" for b in range(world.brand.max() + 1)])
    materials = np.array(MATERIALS)
    # A few items are missing from the master export (orders still reference them).
    in_master = world.in_master
    items = pd.DataFrame(
        {
            "item_id": world.item_ids,
            "category": cat_names[world.category],
            "unit_cost": world.unit_cost,
            # The master is a snapshot at the export: today's list prices.
            "list_price": world.list_price_on(
                np.arange(len(world.item_ids)), np.array(world.n_days - 1)
            ),
            "brand": brand_names[world.brand],
            "description": [
                f"{b} {c} {m} size {s:g}"
                for b, c, m, s in zip(
                    brand_names[world.brand],
                    cat_names[world.category],
                    materials[world.attr_material],
                    world.attr_size,
                    strict=True,
                )
            ],
            "pack_size": world.pack_size,
            "uom": np.where(world.pack_size > 1, "CS", "EA"),
            "supplier_id": [f"SUP{s:03d}" for s in world.supplier],
            "lead_time_days": world.lead_time,
            "moq": world.moq,
            "order_multiple": world.order_multiple,
            "active": world.active,
            "attr_size": world.attr_size,
            "attr_grade": np.array(GRADES)[world.attr_grade],
            "attr_material": materials[world.attr_material],
        }
    )[in_master].reset_index(drop=True)
    locations = pd.DataFrame(
        {
            "location_id": world.location_ids,
            "region": np.array(REGIONS)[world.location_region],
            "kind": "dc",
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": world.customer_ids,
            "segment": np.array(SEGMENTS)[world.customer_segment],
            "tier": np.array(["A", "B", "C"])[world.customer_tier],
            "region": np.array(REGIONS)[world.customer_region],
        }
    )
    carriers = pd.DataFrame(
        {
            "carrier_id": world.carrier_ids,
            "mode": np.where(world.carrier_mode == 1, "ltl", "parcel"),
        }
    )
    return {"items": items, "locations": locations, "customers": customers, "carriers": carriers}
