"""Database values as the cells validation reads from files: dates and timestamps as ISO text (the time
only when there is one), decimals as floats, text and numbers untouched."""

from __future__ import annotations

import datetime as dt
import decimal

import pandas as pd


def as_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Every date column as ISO text and every decimal column as floats; the rest as read."""
    out = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            out[column] = _iso(values)
        elif values.dtype == object:
            first = values.dropna().head(1)
            sample = first.iloc[0] if len(first) else None
            if type(sample) is dt.date:  # a DATE column: ISO text straight from each date (no datetime parsing)
                out[column] = pd.Series([v.isoformat() if isinstance(v, dt.date) else None for v in values], index=values.index, dtype=object)
            elif isinstance(sample, (dt.date, dt.datetime, pd.Timestamp)):
                out[column] = _iso(pd.to_datetime(values, errors="coerce")).where(values.notna(), None)
            elif isinstance(sample, decimal.Decimal):
                out[column] = values.map(lambda v: None if v is None else float(v))
            else:
                out[column] = values
        else:
            out[column] = values
    return pd.DataFrame(out, index=frame.index)


def _iso(values: pd.Series) -> pd.Series:
    """ISO dates, or ISO timestamps when any value has a time of day; NaT stays missing; an offset is
    kept (validation refuses timezone-aware dates rather than convert them)."""
    present = values.dropna()
    has_time = bool(len(present)) and bool((present != present.dt.normalize()).any())
    if values.dt.tz is not None:
        text = values.map(lambda v: None if pd.isna(v) else v.isoformat())
    else:
        text = values.dt.strftime("%Y-%m-%dT%H:%M:%S" if has_time else "%Y-%m-%d")
    return text.where(values.notna(), None).astype(object)
