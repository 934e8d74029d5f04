"""Human-readable reasons from SHAP contributions of the acceptance model.

Pure functions of the feature names, values and contributions: the text says which
way a feature pushed the acceptance probability and, where it helps a sales rep, the
value itself (a price change, a customer's past acceptance rate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from models.substitution import Reason

# Customer × relation statistics of features.substitution_taste.
TASTE_SUFFIXES = ("_same_accept_rate", "_value_accept_rate", "_direction_accept_rate")


def _pct(v: float) -> str:
    return f"{v:.0%}"


def describe(name: str, value: float, labels: Mapping[str, Sequence[str]]) -> str:
    """What the value of one feature means, in words."""
    if not np.isfinite(value):
        return f"{name.replace('_', ' ')} unknown"
    if name in labels:  # categorical: decode the vocabulary code
        k = int(value)
        text = labels[name][k] if 0 <= k < len(labels[name]) else "other"
        return f"{name.removeprefix('customer_').replace('_', ' ')} is {text}"
    if name == "same_category":
        return "same category" if value == 1 else "different category"
    if name == "same_brand":
        return "same brand as the original" if value == 1 else "different brand"
    if name == "log_price_ratio":
        return f"list price {np.expm1(value):+.0%} vs the original"
    if name == "log_pack_ratio":
        return f"pack size ×{np.exp(value):.2g} of the original"
    if name == "attribute_distance":
        return f"attribute distance {value:.2f} from the original (0 = identical)"
    if name.endswith("_diff"):
        attr = name.removeprefix("attr_").removesuffix("_diff").replace("_", " ")
        return f"{attr} {value:.1f} sd from the original"
    if name.endswith("_same"):
        attr = name.removeprefix("attr_").removesuffix("_same").replace("_", " ")
        return f"same {attr}" if value == 1 else f"different {attr}"
    if name == "item_accept_rate":
        return f"accepted as a substitute in {_pct(value)} of offers"
    if name == "pair_accept_rate":
        return f"accepted in place of this item in {_pct(value)} of offers"
    if name == "original_accept_rate":
        return f"buyers of this item accept {_pct(value)} of substitutes"
    if name == "customer_accept_rate":
        return f"this customer accepts {_pct(value)} of substitutes"
    if name == "customer_brand_accept_rate":
        return f"this customer accepts {_pct(value)} of offers with this brand change"
    if name == "customer_price_accept_rate":
        return f"this customer accepts {_pct(value)} of offers with this price direction"
    if name == "customer_choice_margin":
        lean = "favour" if value > 0 else "weigh against"
        return f"this customer's past choices (brand, price, attributes) {lean} this offer"
    if name == "customer_choice_vs_set_best":
        if value >= 0:
            return "the best fit among the offers to this customer's past choices"
        return "a weaker fit to this customer's past choices than the best offer"
    if name == "customer_choice_vs_set_mean":
        better = "better" if value > 0 else "less well"
        return f"fits this customer's past choices {better} than the other offers"
    if name.startswith("customer_") and name.endswith(TASTE_SUFFIXES):
        relation = name.removeprefix("customer_").removesuffix("_accept_rate")
        attr, kind = relation.rsplit("_", 1)
        attr = attr.removeprefix("attr_").replace("_", " ")
        offers = {
            "same": f"offers with this {attr} change",
            "value": f"offers of this {attr}",
            "direction": f"offers with the {attr} moving this way",
        }[kind]
        return f"this customer accepts {_pct(value)} of {offers}"
    if name.endswith("_offers"):
        who = name.removesuffix("_offers").replace("_", " ")
        return f"{np.expm1(value):.0f} earlier offers ({who})"
    if name == "urgency_days":
        return f"needed within {value:.0f} day(s)"
    if name == "stock_cover":
        return f"stock covers the line {value:.1f}×" if value >= 1 else "stock short here"
    return f"{name.removeprefix('x_').replace('_', ' ')} = {value:g}"


def top_reasons(
    names: Sequence[str],
    values: np.ndarray,
    contributions: np.ndarray,
    labels: Mapping[str, Sequence[str]],
    k: int = 3,
) -> tuple[Reason, ...]:
    """The ``k`` largest SHAP contributions of one candidate (bias column excluded)."""
    contrib = contributions[: len(names)]
    order = np.argsort(-np.abs(contrib), kind="stable")[:k]
    reasons = []
    for i in order:
        c = float(contrib[i])
        if c == 0.0:
            break
        v = float(values[i])
        direction = "raises" if c > 0 else "lowers"
        reasons.append(
            Reason(
                feature=names[i],
                value=v if np.isfinite(v) else None,
                contribution=c,
                text=f"{describe(names[i], v, labels)} ({direction} acceptance)",
            )
        )
    return tuple(reasons)
