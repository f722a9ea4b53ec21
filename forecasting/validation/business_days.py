"""The data's own business calendar, for aggregating business-day extracts: a month is complete when it
has every business day the data's calendar has, not every weekday. Closed days are the weekdays inside
the table's span on which no segment has a row (public holidays, as the extract shows them), the same
month and day in the other years of the span (so a first or last month is judged by the holidays of its
own year too), and the public holidays of ``--holidays`` when a country is given."""

from __future__ import annotations

import pandas as pd


def closed_days(dates: pd.DatetimeIndex, country: str | None = None) -> pd.DatetimeIndex:
    """Weekdays on which the business calendar of a table with these (distinct) dates is closed.

    Args:
        dates: every distinct date of the table, all segments together.
        country: an ISO country code whose public holidays are closed days too (None: none).

    Returns:
        The closed weekdays from a year before the first date to a year after the last.
    """
    dates = pd.DatetimeIndex(dates).normalize().unique().sort_values()
    if len(dates) == 0:
        return pd.DatetimeIndex([])
    span = pd.bdate_range(dates[0], dates[-1])
    absent = span.difference(dates)
    years = range(dates[0].year - 1, dates[-1].year + 2)
    recurring = pd.DatetimeIndex([d for day in absent for y in years if (d := _same_day(y, day)) is not None])
    closed = absent.union(recurring)
    if country:
        import holidays

        public = pd.DatetimeIndex(list(holidays.country_holidays(country, years=list(years)).keys()))
        closed = closed.union(public)
    return closed[closed.dayofweek < 5].difference(dates)


def business_days(start: pd.Timestamp, end: pd.Timestamp, closed: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Weekdays from ``start`` to ``end`` on which the calendar is open."""
    return pd.bdate_range(start, end).difference(closed)


def _same_day(year: int, day: pd.Timestamp) -> pd.Timestamp | None:
    try:
        return pd.Timestamp(year=year, month=day.month, day=day.day)
    except ValueError:  # 29 February
        return None
