"""Closure days: the public holidays a distributor barely ships on, read from its history.

On a public holiday a B2B distributor ships a fraction of a normal day. Neither the
demand model's calendar features (day of year cannot place Thanksgiving, the fourth
Thursday of November) nor AutoETS know it, so every holiday in a forecast window is a
full day's error. An export carries no calendar and no country, so the calendar is
inferred from the data, with the rules of the holidays library
(`holidays <https://github.com/vacanza/holidays>`_: fixed dates, weekday rules, Easter
offsets, observed days, for every country) supplying *when* a named holiday falls:

1. **Low days**: a day is judged when the same weekday's usual total (the median over
   up to four weeks either side) is large enough to tell a drop from noise, and low when
   its total demand over all series is under :data:`LOW_RATIO` of that.
2. **The country**: the one whose holidays explain most low days of the history (ties:
   fewer of its holidays on judged normal days). None when no country explains
   :data:`MIN_EXPLAINED` low days.
3. **Closing holidays**: a named holiday of that country closes when every judged
   occurrence of it *before the day asked about* was low (at least one). A day's flag
   therefore only reads earlier years: a training row sees what a forecast of that day
   would have seen, and a holiday seen low once is expected low next year.

On a flagged day the forecast is the normal one times the **depth**: the median share of
its usual total the history's closures shipped. A flag given to the LightGBM as a feature
instead was learnt only in part (a year of history holds a handful of closed training
days; docs/demand.md has the figures), and AutoETS, the other half of the blend, cannot
take a feature at all.

Several locations share one calendar (the total over all series); a distributor whose
sites close on different days needs a calendar per location, which this does not build.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd

LOW_RATIO = 0.5  # a low day ships under half of the same weekday's usual total
NEIGHBOUR_WEEKS = 4  # the usual total: the median of up to 4 same weekdays either side
MIN_JUDGED_SHARE = 0.25  # a day is judged when its usual total is ≥ 25 % of the median day
MIN_JUDGED_UNITS = 10.0  # … and at least 10 units
MIN_EXPLAINED = 2  # a country must explain at least two low days
YEARS_AHEAD = 2  # holidays are listed to two years past the history


@lru_cache(maxsize=8)
def _country_days(years: tuple[int, ...]) -> dict[str, dict[date, str]]:
    """Every country's holidays (two-letter codes) in ``years``: day → name."""
    import holidays

    out: dict[str, dict[date, str]] = {}
    for code in holidays.list_supported_countries():
        if len(code) != 2:  # three-letter aliases repeat the two-letter codes
            continue
        try:
            out[code] = dict(holidays.country_holidays(code, years=years))
        except (NotImplementedError, KeyError):  # a calendar without these years
            continue
    return out


def judge_days(total: pd.Series) -> pd.DataFrame:
    """Per day of a daily total (a Series on consecutive dates): ``usual`` (the median of
    the same weekday up to four weeks either side), ``ratio`` (total ÷ usual), ``judged``
    and ``low``."""
    total = total.astype(float).sort_index()
    values = total.to_numpy()
    n = len(values)
    weeks = [k for k in range(-NEIGHBOUR_WEEKS, NEIGHBOUR_WEEKS + 1) if k]
    stack = np.full((len(weeks), n), np.nan)
    for row, k in enumerate(weeks):
        lag = 7 * abs(k)
        if lag >= n:
            continue
        if k > 0:  # the same weekday k weeks earlier
            stack[row, lag:] = values[: n - lag]
        else:  # … |k| weeks later
            stack[row, : n - lag] = values[lag:]
    with np.errstate(all="ignore"):
        usual = np.nan_to_num(np.nanmedian(stack, axis=0), nan=0.0)
        ratio = np.where(usual > 0, values / np.where(usual > 0, usual, 1.0), np.nan)
    floor = max(MIN_JUDGED_UNITS, MIN_JUDGED_SHARE * float(np.median(values)))
    judged = usual >= floor
    return pd.DataFrame(
        {"usual": usual, "ratio": ratio, "judged": judged, "low": judged & (ratio < LOW_RATIO)},
        index=total.index,
    )


@dataclass
class ClosureCalendar:
    """Closing holidays of one country, point in time, and what a closed day ships.

    ``country`` None: no calendar was found, no day is flagged and every factor is 1.
    """

    country: str | None = None
    # name → [(day, low)] for the judged occurrences in the history, oldest first
    history: dict[str, list[tuple[date, bool]]] = field(default_factory=dict)
    days: dict[date, str] = field(default_factory=dict)  # the country's holidays, listed years
    depth: float = 1.0  # a closed day's median share of its usual total

    @classmethod
    def fit(cls, daily: pd.DataFrame) -> ClosureCalendar:
        """From zero-filled daily demand (``date``, ``qty``; any number of series)."""
        total = daily.groupby("date")["qty"].sum()
        if total.empty:
            return cls()
        total = total.reindex(pd.date_range(total.index.min(), total.index.max()), fill_value=0)
        judged = judge_days(total)
        low = judged.index[judged["low"]]
        if len(low) < MIN_EXPLAINED:
            return cls()
        first, last = total.index.min().date(), total.index.max().date()
        years = tuple(range(first.year, last.year + YEARS_AHEAD + 1))
        seen = {d.date(): bool(lo) for d, lo in judged.loc[judged["judged"], "low"].items()}
        best: tuple[int, int] | None = None
        country = None
        for code, days in _country_days(years).items():
            inside = [seen[d] for d in days if d in seen]
            score = (sum(inside), sum(inside) - len(inside))  # explained, then fewer unexplained
            if score[0] >= MIN_EXPLAINED and (best is None or score > best):
                best, country = score, code
        if country is None:
            return cls()
        days = _country_days(years)[country]
        history: dict[str, list[tuple[date, bool]]] = defaultdict(list)
        for d in sorted(days):
            if d in seen:
                history[days[d]].append((d, seen[d]))
        calendar = cls(country, dict(history), dict(days))
        closed = [pd.Timestamp(d) for n in calendar.closing for d, _ in calendar.history[n]]
        calendar.depth = float(np.clip(judged.loc[closed, "ratio"].median(), 0.0, LOW_RATIO))
        return calendar

    @property
    def closing(self) -> list[str]:
        """Holidays that close on their next occurrence (every judged one so far was low)."""
        return sorted(n for n, seen in self.history.items() if seen and all(lo for _, lo in seen))

    def closes(self, day: date) -> bool:
        """Whether ``day`` is a closing holiday, judged from the occurrences before it."""
        name = self.days.get(day)
        if name is None:
            return False
        seen = [low for d, low in self.history.get(name, ()) if d < day]
        return bool(seen) and all(seen)

    def flags(self, dates: pd.DatetimeIndex | pd.Series | np.ndarray) -> np.ndarray:
        """True on the closing holidays among ``dates``."""
        stamps = pd.DatetimeIndex(pd.to_datetime(np.asarray(dates))).normalize()
        if not self.days:
            return np.zeros(len(stamps), dtype=bool)
        unique = stamps.unique()
        closed = np.array([self.closes(d.date()) for d in unique], dtype=bool)
        return closed[unique.get_indexer(stamps)]

    def factor(self, dates: pd.DatetimeIndex | pd.Series | np.ndarray) -> np.ndarray:
        """What a forecast of each day is multiplied by: ``depth`` on a closed day, else 1."""
        return np.where(self.flags(dates), self.depth, 1.0)

    def to_dict(self) -> dict[str, object]:
        return {"country": self.country, "closing": self.closing, "depth": self.depth}
