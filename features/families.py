"""The order-risk driver families: the one vocabulary of the feature set (every feature
belongs to one), the explainer (SHAP contributions summed per family), the reasons and
the policy (``driver_queues``, ``flag_queues``). A module of its own without imports, so
the governance layer (and the writer process) can read it without loading pandas."""

FAMILIES = (
    "inventory_shortfall",
    "carrier_delay",
    "route",
    "slack",
    "warehouse_load",
    "customer",
    "margin_erosion",
    "order_anomaly",
    "master_data",
    "context",
)
