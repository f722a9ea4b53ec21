"""Stale segments: a segment whose last observation is well before the table's last date (a discontinued
product, a stale extract). Forecast "from its own end" it would forecast dates the other segments
already have actuals for, so it is never passed silently: ``policy.stale`` says error, warn (forecast
from its own end, low confidence everywhere the segment shows) or skip (not forecast, reported)."""

from __future__ import annotations

import pandas as pd

from forecasting.validation.report import ValidationPolicy, ValidationReport


def periods_behind(last: pd.Timestamp, table_last: pd.Timestamp, freq: str) -> int:
    """Periods of ``freq`` after ``last`` up to ``table_last`` (0 when it is not behind)."""
    offset = pd.tseries.frequencies.to_offset(freq)
    return len(pd.date_range(pd.Timestamp(last) + offset, table_last, freq=freq))


def apply_stale_policy(checkers: dict, report: ValidationReport, policy: ValidationPolicy) -> None:
    """Measure every checked segment against the table's last observed date (``report.last_date``) and
    apply ``policy.stale`` to those ``policy.stale_after`` or more periods behind it."""
    ends = [c.last_observed for c in checkers.values() if c.last_observed is not None]
    if not ends:
        return
    table_last = max(ends)
    report.last_date = str(table_last.date())
    for key, checker in checkers.items():
        segment = checker.prepared
        if segment is None or checker.last_observed is None:
            continue
        behind = periods_behind(checker.last_observed, table_last, segment.frequency)
        if behind < policy.stale_after:
            continue
        what = (f"stale: its last observation {checker.last_observed.date()} is {behind} {segment.frequency} period(s) before the data's "
                f"last date {table_last.date()}")
        column = checker.spec.time_col
        if policy.stale == "error":
            checker.refuse(f"{what}; a discontinued product or a stale extract? (--stale warn forecasts it from its own end, "
                           "--stale skip leaves it out)", "error", "stale", column)
        elif policy.stale == "skip":
            checker.report.skipped = f"{what} (--stale skip)"
            checker.refuse(f"{what}: not forecast (--stale skip)", "info", "stale", column)
        else:
            note = f"{what}; forecast from its own end, so its forecast starts {segment.future['ds'].iloc[0].date()}"
            checker.report.warn(column, "stale", note + " (--stale error or skip to refuse it)")
            segment.low_confidence = "; ".join(filter(None, [segment.low_confidence, note]))
            checker.report.low_confidence = segment.low_confidence
