"""Which way a date column is written, decided once per column: ``01/02/2024`` is the 1st of February
to most of the world and the 2nd of January to the rest. A column is read the one way that gives a
regular calendar; when both readings do (twelve dates ``01/01``..``01/12``: a year of months, or twelve
days of January) or neither does, it is refused with one line naming ``--date-format``. Never a guess."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from forecasting.errors import DataError

# day and month as 1-2 digits, the same separator twice, a 2- or 4-digit year, an optional time
_NUMERIC = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{2}|\d{4})((?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?)$")
# a reading that leaves more than this share of its own calendar empty is not a calendar
MAX_EMPTY_SHARE = 0.5


@dataclass(frozen=True)
class DateFormat:
    """How a column's dates are read: a strftime ``format`` (None: ISO or pandas' reading of month
    names and the like) and, for an ambiguous day/month column, why this reading was chosen."""

    format: str | None = None
    reason: str = ""

    @property
    def day_first(self) -> bool:
        return bool(self.format) and self.format.startswith("%d")


def choose_date_format(values: pd.Series, column: str, explicit: str | None = None, source: str = "data") -> DateFormat:
    """The reading of a whole date column (every segment's rows at once).

    Args:
        values: the column as read (text cells, or already dates).
        column: its name, for messages.
        explicit: ``--date-format`` (strftime), which always wins.
        source: the file, for messages.

    Raises:
        DataError: day and month cannot be told apart (both readings, or neither, give a regular
            calendar), naming ``--date-format``.
    """
    if explicit:
        return DateFormat(explicit, f"--date-format {explicit}")
    if pd.api.types.is_datetime64_any_dtype(values) or isinstance(values.dtype, pd.DatetimeTZDtype):
        return DateFormat()
    text = pd.Series(values.dropna().astype("string").str.strip().unique())
    text = text[text != ""]
    parts = text.str.extract(_NUMERIC)
    if text.empty or parts[0].isna().any():  # not (all) dd/mm/yyyy-shaped: ISO, month names, ... as before
        return DateFormat()
    sep, long_year = parts[1].iloc[0], parts[3].str.len().eq(4).all()
    if parts[1].nunique() > 1 or parts[3].str.len().nunique() > 1 or parts[4].ne("").any():
        return DateFormat()  # mixed separators or times: the mixed-format check reports them
    year = "%Y" if long_year else "%y"
    day_first, month_first = f"%d{sep}%m{sep}{year}", f"%m{sep}%d{sep}{year}"
    readings = {fmt: pd.to_datetime(text, format=fmt, errors="coerce") for fmt in (day_first, month_first)}
    valid = {fmt: dates for fmt, dates in readings.items() if dates.notna().all()}
    example = text.iloc[0]
    if len(valid) == 1:
        fmt = next(iter(valid))
        other = text[readings[month_first if fmt == day_first else day_first].isna()].iloc[0]
        return DateFormat(fmt, f"read {'day' if fmt == day_first else 'month'}-first ({fmt}): {other!r} has no other reading")
    if not valid:
        return DateFormat()  # neither reads every value: the unparseable-dates check names them
    regular = {fmt: _regular(dates) for fmt, dates in valid.items()}
    kept = [fmt for fmt, freq in regular.items() if freq]
    if len(kept) == 1:
        fmt = kept[0]
        other = month_first if fmt == day_first else day_first
        return DateFormat(fmt, f"read {'day' if fmt == day_first else 'month'}-first ({fmt}): a regular {regular[fmt]} calendar; "
                               f"read as {other} the dates are not a regular calendar")
    both = " and ".join(f"{'day' if fmt == day_first else 'month'}-first a regular {regular[fmt]} calendar" for fmt in valid)
    what = f"both readings give a regular calendar ({both})" if kept else "neither reading gives a regular calendar"
    raise DataError(f"{source}: dates in {column!r} such as {example!r} can be read day-first or month-first and {what}; "
                    f"set --date-format {day_first} or --date-format {month_first}")


def _regular(dates: pd.Series) -> str | None:
    """The frequency when ``dates`` form a regular calendar (inferred, on its anchor, at most
    MAX_EMPTY_SHARE of its periods empty); None otherwise."""
    from forecasting.frequency import calendar, infer_frequency

    idx = pd.DatetimeIndex(dates.unique()).sort_values()
    try:
        freq = infer_frequency(idx)
    except DataError:
        return None
    periods = len(calendar(idx[0], idx[-1], freq))
    return freq if 1 - len(idx) / periods <= MAX_EMPTY_SHARE else None
