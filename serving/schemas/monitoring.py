"""Response shape of ``GET /v1/monitoring/{model}``: the latest monitoring run and the
alerts still open in the model-monitoring queue."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Figure = float | None


class FeatureDriftOut(BaseModel):
    feature: str
    days: int = Field(description="Feature-days tested.")
    alarms: int = Field(description="Feature-days that alarmed.")
    max_psi: Figure
    max_js: Figure
    last_psi: Figure = Field(description="PSI of the last day tested.")


class DriftOut(BaseModel):
    q: float = Field(description="Benjamini–Hochberg level across each day's tests.")
    min_psi: float = Field(description="Smallest PSI that alarms.")
    feature_days: int
    alarms: int
    by_feature: list[FeatureDriftOut]
    rows: list[dict[str, Any]] = Field(description="The alarmed feature-days.")


class CalibrationOut(BaseModel):
    min_gap: float = Field(description="Smallest |observed − predicted| miss rate that alarms.")
    segment_days: int
    alarms: int
    rows: list[dict[str, Any]] = Field(description="The alarmed segment-days.")


class WeekOut(BaseModel):
    week: str = Field(description="ISO week of the order day, e.g. 2025-W12.")
    n: int = Field(description="Lines scored.")
    labelled: int = Field(description="Lines whose outcome is known.")
    miss_rate: Figure
    mean_p: Figure
    auc: Figure = Field(description="Realised AUC of the labelled lines.")
    brier: Figure
    ece: Figure
    expected_auc: Figure = Field(description="CBPE: expected AUC from the scores alone.")
    expected_brier: Figure


class PerformanceOut(BaseModel):
    training_auc: Figure = Field(description="Test AUC of the model at training.")
    weeks: list[WeekOut]
    segments: dict[str, list[dict[str, Any]]] = Field(
        description="The same metrics per location, carrier and category."
    )


class SubstitutionWeekOut(BaseModel):
    week: str = Field(description="ISO week of the offers.")
    model_version: str | None = Field(None, description="Served version (served block only).")
    location_id: str | None = None
    category: str | None = None
    offers: int
    sets: int = Field(description="Offer sets (short lines).")
    labelled: int = Field(description="Offers whose outcome is known.")
    accept_rate: Figure
    expected_accept_rate: Figure = Field(description="Mean calibrated P(accept) of every offer.")
    hit1: Figure = Field(description="Realised hit@1 on switch occasions.")
    switch_occasions: int
    expected_hit1: Figure = Field(description="CBPE: expected hit@1 from P(accept) alone.")
    expected_switch_occasions: Figure
    ece: Figure
    brier: Figure
    calibration_z: Figure
    calibration_p: Figure
    calibration_gap: Figure = Field(description="Realised minus expected accept rate.")
    tracked_sets: int | None = Field(
        None, description="Served block: reviewed and audit-slice offer sets with feedback."
    )
    tracked_accept_rate: Figure = Field(
        None, description="Accept rate of the tracked sets, the audit slice weighted 1/share."
    )
    tracked_hit1: Figure = Field(None, description="hit@1 of the tracked sets, weighted.")
    tracked_ece: Figure = Field(None, description="ECE of the tracked sets, weighted.")
    tracked_calibration_z: Figure = Field(
        None, description="Σ w (accepted − p) / √Σ w² p (1 − p) over the tracked offers."
    )
    tracked_calibration_gap: Figure = Field(
        None, description="Weighted realised minus expected accept rate of the tracked offers."
    )


class SubstitutionOut(BaseModel):
    training_hit1: Figure = Field(description="Test hit@1 (switch occasions) at training.")
    training_ece: Figure
    hit1_drop: float
    weeks: list[SubstitutionWeekOut]
    segments: dict[str, list[SubstitutionWeekOut]] = Field(
        description="Per week and location, per week and category of the wanted item."
    )


class DemandFiguresOut(BaseModel):
    week: str | None = None
    segment: str | None = Field(None, description="fast, slow or intermittent.")
    location_id: str | None = None
    category: str | None = None
    series: int
    days: int
    actual: float
    forecast: float
    wape: Figure
    bias: Figure
    coverage80: Figure = Field(description="80 % interval coverage (PIT).")


class DemandOut(BaseModel):
    trained_until: str = Field(description="Last day of demand the champion was fitted on.")
    backtest: dict[str, Figure] = Field(description="The training backtest's figures.")
    rules: dict[str, Any] = Field(description="The policy's alert bands.")
    overall: DemandFiguresOut | None
    weeks: list[DemandFiguresOut]
    segments: dict[str, list[DemandFiguresOut]]
    segment_weeks: list[DemandFiguresOut]
    series_not_in_model: int = Field(description="Series of the data the model never saw.")


class ServedOrderWeekOut(WeekOut):
    model_version: str


class ServedOut(BaseModel):
    """What the service recommended, joined to outcomes (``stockpilot monitor --home``)."""

    store: str
    recommendations: int
    lines: int | None = Field(None, description="Order risk: served lines.")
    with_outcome: int | None = None
    reviewed_lines: int | None = None
    audit_slice_lines: int | None = None
    untracked_with_outcome: int | None = Field(
        None, description="Auto-released lines outside the audit slice with an outcome."
    )
    audit_slice_share: float | None = None
    with_feedback: int | None = Field(None, description="Substitution: with feedback.")
    offers: int | None = None
    reviewed_sets: int | None = Field(None, description="Substitution: sent to review.")
    audit_slice_sets: int | None = Field(
        None, description="Substitution: auto-offered sets in the audit slice."
    )
    tracked_sets: int | None = None
    tracked_accept_rate: Figure = None
    tracked_hit1: Figure = None
    tracked_ece: Figure = None
    tracked_calibration_z: Figure = None
    tracked_calibration_gap: Figure = None
    weeks: list[ServedOrderWeekOut | SubstitutionWeekOut] = Field(
        description="Per served model version and ISO week."
    )


class AlertOut(BaseModel):
    queue_item_id: str
    status: str
    kind: str = Field(description="drift, data_quality, calibration or performance.")
    feature: str | None
    days: int | None
    first_day: str | None
    last_day: str | None
    due_at: str


class MonitoringOut(BaseModel):
    model: str
    status: Literal["ok", "no_report"] = Field(
        description="no_report until `stockpilot monitor MODEL` has run."
    )
    model_version: str | None = None
    generated_at: str | None = None
    since: str | None = None
    days: int | None = None
    lines: int | None = None
    reference: dict[str, Any] | None = Field(
        None, description="The training reference; null: the model version has none."
    )
    drift: DriftOut | None = None
    calibration: CalibrationOut | None = None
    performance: PerformanceOut | None = None
    substitution: SubstitutionOut | None = Field(None, description="Substitution's checks.")
    demand: DemandOut | None = Field(None, description="Demand's forecasts against actuals.")
    served: ServedOut | None = Field(
        None, description="Stored recommendations joined to outcomes (`monitor --home`)."
    )
    data_quality: list[dict[str, Any]] = Field(default_factory=list)
    open_alerts: list[AlertOut] = Field(
        default_factory=list, description="Pending model-monitoring items of this model."
    )
