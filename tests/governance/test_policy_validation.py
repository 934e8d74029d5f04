"""Policy files: the shipped default validates; mistakes fail with the offending key named."""

from __future__ import annotations

import pytest
import yaml

from governance.access import Role
from governance.policy import (
    DriverFamily,
    Policy,
    PolicyError,
    default_policy_text,
    load_policy,
    parse_policy,
)


def _variant(edit) -> str:
    data = yaml.safe_load(default_policy_text())
    edit(data)
    return yaml.safe_dump(data, sort_keys=False)


def _errors(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    assert caught.value.status_code == 422
    return caught.value.details["errors"]


def test_default_policy_is_valid_and_complete():
    policy = parse_policy(default_policy_text())
    assert policy.version == 1
    assert policy.order_risk.review_at < policy.order_risk.hold_at
    # margin erosion forcing review is policy data, not code
    assert policy.order_risk.flag_queues[DriverFamily.margin_erosion] == "pricing"
    assert policy.queues["order-hold"].roles == (Role.supervisor,)


def test_typo_in_a_key_is_named_with_a_suggestion():
    text = _variant(lambda d: d["order_risk"].update(reveiw_at=d["order_risk"].pop("review_at")))
    errors = _errors(text)
    assert "order_risk.reveiw_at: unknown key (did you mean 'review_at'?)" in errors
    assert any(e.startswith("order_risk.review_at") for e in errors)  # now missing


def test_typo_in_a_queue_setting_is_named():
    text = _variant(lambda d: d["queues"]["pricing"].update(sla_hour=3))
    assert "queues.pricing.sla_hour: unknown key (did you mean 'sla_hours'?)" in _errors(text)


def test_inverted_order_risk_thresholds_name_both_keys():
    text = _variant(lambda d: d["order_risk"].update(review_at=0.8, hold_at=0.6))
    (error,) = _errors(text)
    assert "order_risk.review_at (0.8) must be below order_risk.hold_at (0.6)" in error


def test_inverted_replenishment_thresholds_name_both_keys():
    text = _variant(
        lambda d: d["replenishment"].update(auto_approve_below=50000, two_approvers_above=100)
    )
    (error,) = _errors(text)
    assert "replenishment.auto_approve_below" in error
    assert "replenishment.two_approvers_above" in error


def test_unknown_role_is_named_with_its_position():
    text = _variant(lambda d: d["queues"]["order-hold"].update(roles=["supervisor", "superuser"]))
    (error,) = _errors(text)
    assert error.startswith("queues.order-hold.roles[1]:")
    assert "supervisor" in error and "admin" in error  # lists what is allowed


def test_unknown_driver_family_is_named():
    text = _variant(lambda d: d["order_risk"]["driver_queues"].update(carrier_dealy="logistics"))
    (error,) = _errors(text)
    assert error.startswith("order_risk.driver_queues.carrier_dealy:")
    assert "carrier_delay" in error


def test_reference_to_an_undefined_queue_is_named():
    text = _variant(lambda d: d["order_risk"]["flag_queues"].update(margin_erosion="prices"))
    (error,) = _errors(text)
    assert "order_risk.flag_queues.margin_erosion: queue 'prices' is not defined" in error


def test_out_of_range_probability_is_named():
    text = _variant(lambda d: d["substitution"].update(auto_offer_at=1.5))
    (error,) = _errors(text)
    assert error.startswith("substitution.auto_offer_at:")


def test_duplicate_keys_are_refused_not_silently_merged():
    text = default_policy_text().replace("  hold_at: 0.7\n", "  hold_at: 0.7\n  hold_at: 0.9\n")
    with pytest.raises(PolicyError, match="duplicate key 'hold_at'"):
        parse_policy(text)


def test_broken_yaml_and_non_mapping_documents_are_refused():
    with pytest.raises(PolicyError, match="not valid YAML"):
        parse_policy("version: [1\n")
    with pytest.raises(PolicyError, match="mapping at the top level"):
        parse_policy("- just\n- a list\n")


def test_load_policy_reports_a_missing_file(tmp_path):
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "nope.yaml")


def test_canonical_form_ignores_formatting():
    a = parse_policy(default_policy_text())
    b = Policy.model_validate_json(a.canonical_json())
    assert a == b and a.sha256 == b.sha256
    reformatted = yaml.safe_dump(yaml.safe_load(default_policy_text()), sort_keys=True)
    assert parse_policy(reformatted).sha256 == a.sha256
