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


class AlertOut(BaseModel):
    queue_item_id: str
    status: str
    kind: str = Field(description="drift, data_quality or performance.")
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
    data_quality: list[dict[str, Any]] = Field(default_factory=list)
    open_alerts: list[AlertOut] = Field(
        default_factory=list, description="Pending model-monitoring items of this model."
    )
