"""Public holidays as the families use them: a flag per day, a count per week (a holiday anywhere in the
week counts, not only on the day the week is labelled with)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd


@functools.lru_cache(maxsize=16)
def holiday_dates(country: str, first_year: int, last_year: int) -> frozenset:
    import holidays

    return frozenset(pd.Timestamp(d) for d in holidays.country_holidays(country, years=range(first_year, last_year + 1)))


def holiday_names(country: str, first_year: int, last_year: int) -> list[tuple[pd.Timestamp, str]]:
    """Every public holiday of the years with its name, in date order."""
    import holidays

    table = holidays.country_holidays(country, years=range(first_year, last_year + 1))
    return sorted((pd.Timestamp(day), name) for day, name in table.items())


def uses_holidays(frequency: str) -> bool:
    """Holidays matter at daily, business-daily and weekly frequency; a month or more averages them out."""
    return frequency in ("D", "B") or frequency.startswith("W-")


def holidays_per_period(dates: pd.DatetimeIndex, frequency: str, country: str | None) -> np.ndarray:
    """For each date, the number of public holidays in its period: 0/1 for a day; for a week, the
    holidays among the 7 days ending on the date (pandas labels W-MON weeks by their last day)."""
    dates = pd.DatetimeIndex(dates)
    if not country or not len(dates) or not uses_holidays(frequency):
        return np.zeros(len(dates))
    days = holiday_dates(country, dates.min().year - 1, dates.max().year + 1)
    if frequency in ("D", "B"):
        return np.array([float(d in days) for d in dates.normalize()])
    week = np.arange(7)
    return np.array([float(sum((d - pd.Timedelta(days=int(k))) in days for k in week)) for d in dates.normalize()])
