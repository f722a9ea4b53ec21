"""Reading the cells of one segment as dates and numbers: every value that cannot be read is an error
naming the column, the values and their spreadsheet rows."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

from forecasting.contract import has_timezone
from forecasting.validation.numbers import parse_numbers
from forecasting.validation.report import SegmentReport, rows_text, values_text


def parse_dates(raw: pd.Series, rows: pd.Series, col: str, report: SegmentReport, date_format: str | None = None) -> pd.Series | None:
    """Timezone-naive dates in one format (never a guess between formats); None after an error.
    ``date_format``: the column's strftime format when it is not ISO (see
    :func:`forecasting.validation.dates.choose_date_format`, which decides it for the whole column)."""
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        report.error(col, "timezone", f"time column {col!r} is timezone-aware ({raw.dtype.tz}); give timezone-naive local dates")
        return None
    if pd.api.types.is_datetime64_any_dtype(raw):
        if raw.isna().any():
            report.error(col, "dates", f"time column {col!r} is empty in {rows_text(rows[raw.isna()])}")
            return None
        return pd.to_datetime(raw)
    text = raw.astype("string").str.strip()
    empty = text.isna() | (text == "")
    if empty.any():
        report.error(col, "dates", f"time column {col!r} is empty in {rows_text(rows[empty])}")
        return None
    tz = has_timezone(text)
    if tz.any():
        report.error(col, "timezone", f"time column {col!r} has timezone-aware values like {text[tz].iloc[0]!r} ({rows_text(rows[tz])}); give timezone-naive local dates")
        return None
    shapes = text.map(date_shape)
    counts = shapes.value_counts()
    if len(counts) > 1:
        parts = [f"{shape!r} ({n} rows, e.g. {text[shapes == shape].iloc[0]!r} at row {rows[shapes == shape].iloc[0]})" for shape, n in counts.items()]
        report.error(col, "dates", f"mixed date formats in {col!r}: " + " vs ".join(parts[:3]))
        return None
    fmt = date_format or ("ISO8601" if _is_iso(counts.index[0]) else None)
    parsed = pd.to_datetime(text, errors="coerce", format=fmt)
    bad = parsed.isna()
    if bad.any():
        shown = f" with --date-format {date_format}" if date_format else ""
        report.error(col, "dates", f"unparseable dates in {col!r}{shown}: {values_text(text[bad])} ({rows_text(rows[bad])})")
        return None
    return parsed


def parse_target(raw: pd.Series, rows: pd.Series, col: str, report: SegmentReport, decimal: str = ".",
                 forms: Counter | None = None) -> pd.Series | None:
    """Finite numbers as finance exports write them (:mod:`forecasting.validation.numbers`), blanks as
    missing; None after an error. ``forms`` counts the cells read in each non-plain form."""
    values, non_numeric = parse_numbers(raw, decimal, forms)
    if non_numeric.any():
        report.error(col, "target", f"target {col!r} has non-numeric values {values_text(raw[non_numeric])} ({rows_text(rows[non_numeric])})"
                     + _decimal_hint(raw[non_numeric], decimal))
        return None
    infinite = np.isinf(values)
    if infinite.any():
        report.error(col, "target", f"target {col!r} has infinite values ({rows_text(rows[infinite])})")
        return None
    if values.isna().all():
        report.error(col, "target", f"target {col!r} is empty (all {len(values)} values are missing)")
        return None
    return values


def parse_covariate(raw: pd.Series, rows: pd.Series, col: str, report: SegmentReport, decimal: str = ".",
                    forms: Counter | None = None) -> np.ndarray:
    """Numbers as finance exports write them, blanks as missing; non-numeric values are an error."""
    values, bad = parse_numbers(raw, decimal, forms)
    if bad.any():
        report.error(col, "covariate", f"covariate {col!r} has non-numeric values {values_text(raw[bad])} ({rows_text(rows[bad])})"
                     + _decimal_hint(raw[bad], decimal))
    return values.to_numpy(dtype=float)


def _decimal_hint(bad: pd.Series, decimal: str) -> str:
    """A hint when the values look written with the other decimal separator, or with two signs."""
    text = bad.astype(str).str.strip()
    if decimal == "." and text.str.fullmatch(r"-?[\d.]*\d,\d{1,2}").any():
        return "; if ',' is the decimal separator, set --decimal ,"
    if (text.str.count(r"[(+\-\u2212]").ge(2) & text.str.contains(r"\d")).any():
        return "; a number with two signs ('(-5)', '--5') is ambiguous: write it with one sign"
    return ""


def date_shape(text: str) -> str:
    """The format of a date string with digits and words abstracted: 2024-1-5 and 2024-01-05 agree."""
    shape = re.sub(r"\d", "9", text)
    shape = re.sub(r"[A-Za-z]+", "a", shape)
    return re.sub(r"9+", "9", shape)


def _is_iso(shape: str) -> bool:
    return bool(re.fullmatch(r"9-9-9(?:[ a]9:9(?::9(?:\.9)?)?)?", shape)) or shape == "9"
