"""Validation of every segment of a table: a report of errors (cannot train) and warnings, every input
row accounted for, and the cleaned series of each segment that can be trained."""

from __future__ import annotations

import pandas as pd

from forecasting.contract import COVARIATES_FILE_ROW, DataSpec, check_columns, split_segments
from forecasting.validation.business_days import closed_days
from forecasting.validation.checks import SegmentChecker
from forecasting.validation.dates import choose_date_format
from forecasting.validation.report import (
    Finding,
    PreparedSegment,
    RowAccounting,
    SegmentReport,
    ValidationPolicy,
    ValidationReport,
)
from forecasting.validation.stale import apply_stale_policy


def validate(
    frame: pd.DataFrame,
    spec: DataSpec,
    policy: ValidationPolicy,
    horizon: int,
    folds: int,
    log_transform: bool = False,
    holidays_country: str | None = None,
) -> tuple[ValidationReport, dict[str, PreparedSegment]]:
    """Validate every segment of ``frame``.

    Args:
        frame: the long table as read (cells may still be text).
        spec: which columns are time, target, segments and covariates, and the frequency.
        policy: what to do about each data problem.
        horizon: periods to forecast; future covariates must cover them.
        folds: backtest folds wanted (fewer are allowed, with a warning, for short series).
        log_transform: whether the models will forecast on the log scale (needs positive values).
        holidays_country: public holidays that close a business-day calendar (aggregating business days).

    Returns:
        The report (every segment, its errors and warnings, and its row accounting:
        ``rows_read == rows_used + rows_dropped + rows_merged``) and, by segment key in sorted order,
        the segments that can be trained.

    Raises:
        DataError: a problem of the whole table (a missing column, a day/month order that cannot be
            told apart).
    """
    check_columns(frame, spec)
    frame = frame.reset_index(drop=True)
    frame = frame.assign(_row=frame.index + 2)  # spreadsheet row: the header is row 1
    report = ValidationReport()
    data_rows = frame[~frame[COVARIATES_FILE_ROW].fillna(False).astype(bool)] if COVARIATES_FILE_ROW in frame else frame
    dates = choose_date_format(data_rows[spec.time_col], spec.time_col, spec.date_format)
    if dates.reason and not spec.date_format:
        report.notes.append(f"dates in {spec.time_col!r} {dates.reason}")
    closed = _closed_days(data_rows[spec.time_col], dates.format, holidays_country) if spec.aggregate else None
    checkers = {}
    for key, rows in split_segments(frame, spec).items():
        checker = SegmentChecker(key, rows, spec, policy, horizon, folds, log_transform, dates.format, closed)
        checker.run()
        report.segments[key] = checker.report
        checkers[key] = checker
    apply_stale_policy(checkers, report, policy)
    prepared = {key: c.prepared for key, c in checkers.items() if c.prepared is not None and c.report.ok}
    return report, prepared


def _closed_days(values: pd.Series, date_format: str | None, country: str | None) -> pd.DatetimeIndex | None:
    """The table's business calendar's closed days (for aggregating business-day extracts); None when
    the dates do not parse (each segment then reports its own)."""
    text = pd.Series(values.dropna().unique())
    parsed = pd.to_datetime(text.astype("string").str.strip(), format=date_format or "mixed", errors="coerce") \
        if not pd.api.types.is_datetime64_any_dtype(text) else pd.to_datetime(text)
    if parsed.isna().any():
        return None
    return closed_days(pd.DatetimeIndex(parsed), country)


__all__ = ["Finding", "PreparedSegment", "RowAccounting", "SegmentReport", "ValidationPolicy", "ValidationReport", "validate"]
