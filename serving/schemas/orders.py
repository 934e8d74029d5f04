from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from serving.schemas.common import CONTEXT_KEYS, Day, DecisionOut, Integer, ModelRef, Moment, Strict

Id = Field(min_length=1, max_length=200)


def _utc_day(moment: datetime) -> date:
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


class LineIn(Strict):
    line_no: Integer = Field(ge=0, le=10**6)
    item_id: str = Id
    location_id: str | None = Field(
        None, min_length=1, max_length=200, description="Default: the order's location."
    )
    qty: float = Field(gt=0, le=1e9, allow_inf_nan=False)
    unit_price: float = Field(ge=0, le=1e9, allow_inf_nan=False)
    discount_pct: float | None = Field(None, ge=0, le=100, allow_inf_nan=False)


class OrderIn(Strict):
    order_id: str = Id
    customer_id: str = Id
    location_id: str | None = Field(None, min_length=1, max_length=200)
    order_ts: Moment | None = Field(None, description="Default: now (UTC).")
    promised_date: Day
    requested_date: Day | None = None
    carrier_id: str | None = Field(None, max_length=200)
    ship_method: str | None = Field(None, max_length=50)
    priority: str | None = Field(None, max_length=50)
    context: dict[str, float | str | bool] = Field(
        default_factory=dict,
        description="x_* columns known at order time.",
        json_schema_extra=CONTEXT_KEYS,
    )
    lines: list[LineIn] = Field(min_length=1, max_length=200)

    model_config = ConfigDict(
        # _lines' location rule, told to clients in the schema.
        json_schema_extra={
            "anyOf": [
                {"required": ["location_id"], "properties": {"location_id": {"type": "string"}}},
                {
                    "properties": {
                        "lines": {
                            "items": {
                                "required": ["location_id"],
                                "properties": {"location_id": {"type": "string"}},
                            }
                        }
                    }
                },
            ]
        }
    )

    @field_validator("context")
    @classmethod
    def _x_columns(cls, value: dict) -> dict:
        bad = [k for k in value if not k.startswith("x_") or len(k) > 100]
        if bad or len(value) > 50:
            raise ValueError(f"context keys must start with 'x_' (at most 50): {bad[:5]}")
        return value

    @model_validator(mode="after")
    def _lines(self) -> OrderIn:
        numbers = [line.line_no for line in self.lines]
        if len(set(numbers)) != len(numbers):
            raise ValueError("lines: line_no must be unique within an order")
        if self.location_id is None and any(line.location_id is None for line in self.lines):
            raise ValueError("location_id: give it on the order or on every line")
        if self.order_ts is not None and self.promised_date < _utc_day(self.order_ts):
            raise ValueError(
                f"promised_date {self.promised_date} is before the order date "
                f"{_utc_day(self.order_ts)}"
            )
        return self


class OrderRiskIn(Strict):
    orders: list[OrderIn] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _unique(self) -> OrderRiskIn:
        ids = [o.order_id for o in self.orders]
        if len(set(ids)) != len(ids):
            raise ValueError("orders: order_id must be unique within a request")
        return self

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "orders": [
                        {
                            "order_id": "SO-1042",
                            "customer_id": "C00012",
                            "location_id": "DAL",
                            "order_ts": "2026-03-02T10:15:00Z",
                            "promised_date": "2026-03-05",
                            "carrier_id": "CR01",
                            "lines": [
                                {"line_no": 1, "item_id": "I00042", "qty": 40, "unit_price": 18.5},
                                {"line_no": 2, "item_id": "I00077", "qty": 6, "unit_price": 4.2},
                            ],
                        }
                    ]
                }
            ]
        },
    )


class ReasonOut(BaseModel):
    family: str
    contribution: float = Field(description="Log-odds this driver family adds (exact SHAP).")
    text: str


class LineRiskOut(BaseModel):
    line_no: int | None
    item_id: str | None
    probability: float = Field(description="Calibrated P(line misses its commitment).")
    margin: float = Field(description="Raw log-odds = expected_value + Σ contributions.")
    families: dict[str, float]
    reasons: list[ReasonOut]
    margin_erosion: bool
    margin_erosion_reason: str | None


class OrderRiskOut(BaseModel):
    order_id: str
    recommendation_id: str = Field(description="Decision id; the audit record's subject.")
    score: float = Field(description="Order P(miss) = max over its lines.")
    top_family: str | None
    margin_erosion: bool
    reasons: list[ReasonOut]
    lines: list[LineRiskOut]
    decision: DecisionOut
    model: ModelRef


class OrderRiskResultsOut(BaseModel):
    results: list[OrderRiskOut]
