"""Frequency inference and the calendar of a frequency: anchors, season lengths, future dates."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from forecasting.errors import DataError

WEEKDAYS = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]

SUPPORTED = (
    ["D", "B", "MS", "ME"]
    + [f"W-{d}" for d in WEEKDAYS]
    + [f"QS-{m}" for m in MONTHS]
    + [f"QE-{m}" for m in MONTHS]
    + [f"YS-{m}" for m in MONTHS]  # years starting in that month (fiscal years: YS-APR, YS-JUL, ...)
    + [f"YE-{m}" for m in MONTHS]  # years ending in that month (YE-MAR: fiscal years ending in March)
)
# What users and older pandas write for the same calendars.
ALIASES = {"M": "ME", "Q": "QE-DEC", "QE": "QE-DEC", "QS": "QS-JAN", "W": "W-SUN", "Y": "YE-DEC", "YE": "YE-DEC",
           "A": "YE-DEC", "YS": "YS-JAN", "AS": "YS-JAN", "BYS": None, "BYE": None}
_YEARLY_PREFIXES = {"A-": "YE-", "Y-": "YE-", "AS-": "YS-"}


def normalize_frequency(freq: str) -> str:
    """Accept common aliases (M, Q, W, QS, A, Y, YS, A-MAR, AS-APR) and return one of :data:`SUPPORTED`."""
    text = (freq or "").strip().upper()
    canonical = ALIASES.get(text, text)
    for old, new in _YEARLY_PREFIXES.items():
        if canonical and canonical.startswith(old):
            canonical = new + canonical[len(old):]
    if canonical not in SUPPORTED:
        raise DataError(f"frequency {freq!r} is not supported; use auto, D, B, W-MON..W-SUN, MS, ME, QS-JAN.., QE-DEC.., "
                        "YS-JAN.. (years starting in a month) or YE-DEC.. (years ending in a month)")
    return canonical


# Aliases that name a kind of calendar but not its anchor in the user's mind ("A" is annual, whether the
# dates are year starts or ends, "W" is weekly whatever the weekday): the anchor comes from the dates.
KIND_ONLY = {"A": "Y", "Y": "Y", "AS": "Y", "YS": "Y", "YE": "Y", "Q": "Q", "QS": "Q", "QE": "Q", "M": "M", "W": "W"}


def kind(freq: str) -> str:
    """D, B, W, M, Q or Y."""
    if freq.startswith("W-"):
        return "W"
    if freq in ("MS", "ME"):
        return "M"
    if freq.startswith(("QS-", "QE-")):
        return "Q"
    if is_yearly(freq):
        return "Y"
    return freq


def is_yearly(freq: str) -> bool:
    return freq.startswith(("YS-", "YE-"))


def season_length(freq: str) -> int:
    """Primary seasonal period: a week of days, a year of weeks, months or quarters; none for years."""
    if freq == "D":
        return 7
    if freq == "B":
        return 5
    if freq.startswith("W-"):
        return 52
    if freq in ("MS", "ME"):
        return 12
    if is_yearly(freq):
        return 1
    return 4


def periods_per_year(freq: str) -> float:
    if is_yearly(freq):
        return 1.0
    return {"D": 365.25, "B": 261.0}.get(freq, 52.18 if freq.startswith("W-") else 12.0 if freq in ("MS", "ME") else 4.0)


def future_dates(last: pd.Timestamp, horizon: int, freq: str) -> pd.DatetimeIndex:
    """The ``horizon`` periods that follow ``last`` on the frequency's anchor (never ``last`` itself)."""
    offset = pd.tseries.frequencies.to_offset(freq)
    return pd.date_range(start=pd.Timestamp(last) + offset, periods=horizon, freq=freq)


def calendar(first: pd.Timestamp, last: pd.Timestamp, freq: str) -> pd.DatetimeIndex:
    return pd.date_range(start=first, end=last, freq=freq)


def infer_frequency(dates: pd.Series | pd.DatetimeIndex, where: str = "") -> str:
    """Infer the frequency from observed dates, tolerating gaps; irregular data is an error, not a guess."""
    idx = pd.DatetimeIndex(pd.Series(dates).dropna().unique()).sort_values()
    prefix = f"{where}: " if where else ""
    if len(idx) < 3:
        raise DataError(f"{prefix}cannot infer a frequency from {len(idx)} distinct date(s); set --frequency")
    if (idx != idx.normalize()).any():
        sample = idx[idx != idx.normalize()][0]
        raise DataError(f"{prefix}dates carry a time of day (e.g. {sample}); sub-daily data is not supported")
    diffs = np.diff(idx.values).astype("timedelta64[D]").astype(np.int64)
    step = int(np.median(diffs))
    candidates: list[str] = []
    if step == 1 or (step <= 3 and _all_weekdays(idx)):
        candidates = ["B"] if _all_weekdays(idx) and _has_weekend_gaps(idx) else ["D"]
    elif step == 7:
        day = Counter(idx.dayofweek).most_common(1)[0][0]
        candidates = [f"W-{WEEKDAYS[day]}"]
    elif 28 <= step <= 31:
        candidates = ["MS"] if (idx.day == 1).all() else ["ME"] if idx.is_month_end.all() else []
    elif 89 <= step <= 92:
        if (idx.day == 1).all():
            candidates = [f"QS-{MONTHS[(idx[0].month - 1) % 3]}"]
        elif idx.is_month_end.all():
            candidates = [f"QE-{_quarter_end_anchor(idx)}"]
    elif 365 <= step <= 366:
        month = MONTHS[idx[0].month - 1]  # the fiscal year's first (YS) or last (YE) month
        if (idx.day == 1).all():
            candidates = [f"YS-{month}"]
        elif idx.is_month_end.all():
            candidates = [f"YE-{month}"]
    if not candidates:
        raise DataError(
            f"{prefix}irregular dates: typical spacing {step} days matches no supported frequency "
            f"(daily, business-daily, weekly, monthly, quarterly or yearly, on the first or last day of the month); "
            "set --frequency or fix the dates"
        )
    freq = candidates[0]
    check_on_calendar(idx, freq, where)
    return freq


def check_on_calendar(dates: pd.DatetimeIndex, freq: str, where: str = "") -> None:
    """Every observed date must fall on the frequency's anchor (e.g. Mondays for W-MON)."""
    idx = pd.DatetimeIndex(dates).sort_values()
    off = idx.difference(calendar(idx[0], idx[-1], freq)) if len(idx) else idx
    if len(off):
        prefix = f"{where}: " if where else ""
        shown = ", ".join(str(d.date()) for d in off[:3])
        raise DataError(
            f"{prefix}irregular dates: {len(off)} date(s) are not on the {freq} calendar (e.g. {shown}); "
            "fix them or set --frequency"
        )


def _all_weekdays(idx: pd.DatetimeIndex) -> bool:
    return bool((idx.dayofweek < 5).all()) and len(idx) >= 10


def _has_weekend_gaps(idx: pd.DatetimeIndex) -> bool:
    return bool((idx.dayofweek == 0).any() and (idx.dayofweek == 4).any())


def _quarter_end_anchor(idx: pd.DatetimeIndex) -> str:
    # QE-DEC ends quarters in Mar/Jun/Sep/Dec; the anchor is the last month of the fiscal year.
    return MONTHS[(idx[0].month - 1) % 3 + 9]
