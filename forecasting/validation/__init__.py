"""Validation of every segment of a table: a report of errors (cannot train) and warnings, and the
cleaned series of each segment that can be trained."""

from __future__ import annotations

import pandas as pd

from forecasting.contract import DataSpec, check_columns, split_segments
from forecasting.validation.checks import SegmentChecker
from forecasting.validation.report import (
    Finding,
    PreparedSegment,
    SegmentReport,
    ValidationPolicy,
    ValidationReport,
)


def validate(
    frame: pd.DataFrame,
    spec: DataSpec,
    policy: ValidationPolicy,
    horizon: int,
    folds: int,
    log_transform: bool = False,
) -> tuple[ValidationReport, dict[str, PreparedSegment]]:
    """Validate every segment of ``frame``.

    Args:
        frame: the long table as read (cells may still be text).
        spec: which columns are time, target, segments and covariates, and the frequency.
        policy: what to do about each data problem.
        horizon: periods to forecast; future covariates must cover them.
        folds: backtest folds wanted (fewer are allowed, with a warning, for short series).
        log_transform: whether the models will forecast on the log scale (needs positive values).

    Returns:
        The report (every segment, its errors and warnings) and, by segment key in sorted order, the
        segments that can be trained.
    """
    check_columns(frame, spec)
    frame = frame.reset_index(drop=True)
    frame = frame.assign(_row=frame.index + 2)  # spreadsheet row: the header is row 1
    report = ValidationReport()
    prepared: dict[str, PreparedSegment] = {}
    for key, rows in split_segments(frame, spec).items():
        checker = SegmentChecker(key, rows, spec, policy, horizon, folds, log_transform)
        segment = checker.run()
        report.segments[key] = checker.report
        if segment is not None and checker.report.ok:
            prepared[key] = segment
    return report, prepared


__all__ = ["Finding", "PreparedSegment", "SegmentReport", "ValidationPolicy", "ValidationReport", "validate"]
