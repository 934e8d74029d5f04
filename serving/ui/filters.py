"""Jinja filters: money, probabilities, time left, actors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment


def money(value: Any) -> str:
    if value is None or not isinstance(value, int | float) or value != value:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def pct(value: Any, digits: int = 0) -> str:
    if value is None or not isinstance(value, int | float) or value != value:
        return "–"
    return f"{value:.{digits}%}"


def hours_left(hours: float) -> str:
    """An SLA countdown in words: '1 h 20 min left', '25 min overdue'."""
    minutes = round(abs(hours) * 60)
    text = f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
    return f"{text} left" if hours >= 0 else f"{text} overdue"


def when(moment: Any) -> str:
    if not isinstance(moment, datetime):
        return str(moment or "")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(moment: Any) -> str:
    if not isinstance(moment, datetime):
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def words(value: Any) -> str:
    return str(value or "").replace("_", " ")


def who(actor: Any, people: dict[str, str] | None = None) -> str:
    """An actor as a reviewer knows them: the key holder's name (``people`` maps
    ``key:<id>`` to it), else the actor as recorded (an operator, the system)."""
    return (people or {}).get(str(actor), str(actor or ""))


def register(env: Environment) -> None:
    env.filters.update(
        money=money, pct=pct, hours_left=hours_left, when=when, iso=iso, words=words, who=who
    )
