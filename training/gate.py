"""The champion gate: a model that loses to its best baseline does not become champion.

Every training run compares the model with strong baselines fitted on the same
time-ordered split (and, on simulated data, with the oracle) on one headline metric per
model: AUC for order risk, hit@1 on switch occasions for substitution, WAPE for demand.
:func:`verdict` turns those figures into the ``gate`` block of ``evaluation.json``:

- ``margin``: how much better the model is than the best baseline — an absolute
  difference for AUC and hit@1, a relative one for WAPE (``1 − model / best``);
- ``beats_best_baseline``: the model is better by at least :attr:`GateRule.required`
  wherever the oracle leaves that much room above the baseline (or when there is no
  oracle to say otherwise), and otherwise within the gate's tolerance of it;
- ``passed``: the model is not worse than the best baseline by more than the tolerance
  (the policy's ``model_gate``). Only a passing model may take the ``champion`` alias,
  unless the run is forced (:func:`champion_alias`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_GATE_REFUSED = 3


@dataclass(frozen=True)
class GateRule:
    metric: str
    higher_is_better: bool
    relative: bool  # margins as a share of the baseline's value (WAPE), else differences
    required: float  # margin that counts as beating the baseline
    oracle_gap: float  # how close to the oracle the model should be (same unit as margin)


RULES: dict[str, GateRule] = {
    "order-risk": GateRule("auc", True, False, required=0.01, oracle_gap=0.03),
    "substitution": GateRule("hit@1_switch", True, False, required=0.02, oracle_gap=0.03),
    "demand": GateRule("wape", False, True, required=0.02, oracle_gap=0.05),
}


def _margin(rule: GateRule, model: float, reference: float) -> float:
    """How much better ``model`` is than ``reference`` (positive: better)."""
    if rule.relative:
        if not reference:
            return math.nan
        better = (reference - model) if not rule.higher_is_better else (model - reference)
        return better / abs(reference)
    return (model - reference) if rule.higher_is_better else (reference - model)


def verdict(
    model_name: str,
    model: float,
    baselines: Mapping[str, float],
    oracle: float | None,
    tolerance: float,
) -> dict[str, Any]:
    """The ``gate`` block of a report: model vs best baseline vs oracle on the headline metric.

    ``baselines`` maps each baseline's name to its value on the same test slice; NaN
    values (a baseline that could not be fitted on this dataset) are left out.
    """
    if model_name not in RULES:
        raise ValueError(f"model_name must be one of {sorted(RULES)}, got {model_name!r}")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    rule = RULES[model_name]
    usable = {k: float(v) for k, v in baselines.items() if v is not None and math.isfinite(v)}
    if not usable:
        raise ValueError(f"{model_name}: no baseline could be evaluated on the test slice")
    pick = max if rule.higher_is_better else min
    best = pick(usable, key=usable.__getitem__)
    margin = _margin(rule, float(model), usable[best])
    has_oracle = oracle is not None and math.isfinite(oracle)
    room = _margin(rule, float(oracle), usable[best]) if has_oracle else None
    needs_win = room is None or room >= rule.required
    beats = margin >= rule.required if needs_win else margin >= -tolerance
    gap = _margin(rule, float(oracle), float(model)) if has_oracle else None
    return {
        "metric": rule.metric,
        "higher_is_better": rule.higher_is_better,
        "margin_kind": "relative" if rule.relative else "absolute",
        "model": float(model),
        "baselines": usable,
        "best_baseline": best,
        "best_baseline_value": usable[best],
        "oracle": float(oracle) if has_oracle else None,
        "margin": margin,
        "required_margin": rule.required,
        "room_above_baseline": room,
        "beats_best_baseline": bool(beats),
        "gap_to_oracle": gap,
        "near_oracle": None if gap is None else bool(gap <= rule.oracle_gap),
        "tolerance": tolerance,
        "passed": bool(margin >= -tolerance),
    }


def tolerance_for(model_name: str, policy_file: Path | None = None) -> float:
    """The gate's tolerance for ``model_name`` from the policy (``model_gate``)."""
    from governance.policy import default_policy_text, load_policy, parse_policy

    policy = load_policy(policy_file) if policy_file else parse_policy(default_policy_text())
    return policy.model_gate.tolerance(model_name)


def champion_alias(gate: dict[str, Any], alias: str | None, force: bool) -> tuple[str | None, bool]:
    """The alias training may set, and whether the gate refused the requested ``champion``.

    A refused model is still registered (without the alias) so that it can be inspected
    and forced later; ``force`` overrides the gate and is recorded on the version.
    """
    if alias != "champion" or gate["passed"] or force:
        return alias, False
    return None, True


def refusal_message(model_name: str, gate: dict[str, Any]) -> str:
    """One paragraph for the terminal: which baseline won, by how much, what to do."""
    unit = "" if gate["margin_kind"] == "absolute" else " (relative)"
    return (
        f"{model_name}: not made champion — baseline {gate['best_baseline']!r} "
        f"({gate['metric']} {gate['best_baseline_value']:.4f}) beats the model "
        f"({gate['model']:.4f}) by {-gate['margin']:.4f}{unit}, more than the policy's "
        f"tolerance {gate['tolerance']:.4f}. The version is registered without the alias; "
        "train again with --force to make it champion anyway."
    )


def register_gated(
    evaluation: dict[str, Any],
    model_uri: str,
    model_name: str,
    alias: str | None,
    tags: Mapping[str, str],
    force: bool,
) -> dict[str, Any]:
    """Register the logged model, moving ``champion`` only past the gate (the ``registered``
    block of the report). The verdict is recorded on the version as tags."""
    from stockpilot import tracking

    gate = evaluation["gate"]
    allowed, refused = champion_alias(gate, alias, force)
    version_tags = {
        **tags,
        "gate_passed": str(gate["passed"]).lower(),
        "beats_best_baseline": str(gate["beats_best_baseline"]).lower(),
        "best_baseline": gate["best_baseline"],
    }
    if force and not gate["passed"] and alias == "champion":
        version_tags["gate_forced"] = "true"
    previous = tracking.alias_version(model_name, allowed) if allowed else None
    registered = tracking.register_run_model(model_uri, model_name, allowed, version_tags)
    registered["requested_alias"] = alias
    registered["gate_refused"] = refused
    if allowed:
        from training.alias_audit import audit_move

        registered["previous_version"] = previous
        registered["audit_seq"] = audit_move(
            model_name,
            allowed,
            previous,
            registered["version"],
            registered["run_id"],
            forced=force and not gate["passed"],
        )
    return registered
