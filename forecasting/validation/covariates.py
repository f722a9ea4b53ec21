"""Covariates of one segment: complete in the history, not a leak of the target, and known for every
period of the horizon."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.contract import DataSpec
from forecasting.frequency import future_dates
from forecasting.validation.report import SegmentReport, ValidationPolicy


def check_covariates(history: pd.DataFrame, future_rows: pd.DataFrame, spec: DataSpec, policy: ValidationPolicy,
                     horizon: int, freq: str, report: SegmentReport) -> pd.DataFrame:
    """The future frame (``ds`` of the horizon plus each usable covariate). A leaky covariate that the
    policy drops is removed from ``history`` in place; every other problem is an error in ``report``."""
    dates = future_dates(history["ds"].iloc[-1], horizon, freq)
    future = pd.DataFrame({"ds": dates})
    target = spec.target_col
    for col in list(spec.covariate_cols):
        x = history[col]
        if x.isna().any():
            sample = ", ".join(str(d.date()) for d in history.loc[x.isna(), "ds"][:3])
            report.error(col, "covariate", f"covariate {col!r} is missing in {int(x.isna().sum())} historical period(s) (e.g. {sample})")
            continue
        leak = leak_correlation(history["y"], x)
        if leak is not None and leak >= policy.leak_correlation:
            msg = (f"covariate {col!r} leaks the target {target!r} (correlation {leak:.3f} >= {policy.leak_correlation}, "
                   "also in period-to-period changes): it is not known in advance")
            if policy.leaky_covariates == "error":
                report.error(col, "leakage", f"{msg}; remove it or set leaky_covariates=drop")
            else:
                report.warn(col, "leakage", f"{msg}; dropped")
                history.drop(columns=[col], inplace=True)
            continue
        known = future_rows.set_index("ds")[col].dropna() if len(future_rows) else pd.Series(dtype=float)
        known = known[~known.index.duplicated(keep="last")]
        values = known.reindex(dates)
        if values.isna().any():
            gap = dates[values.isna().values]
            report.error(col, "future_covariate", f"covariate {col!r} is not available for the forecast horizon: {len(gap)} of {horizon} future periods "
                         f"have no value ({gap[0].date()} .. {gap[-1].date()}); add rows with future dates, empty {target!r} and the covariate filled")
            continue
        future[col] = values.values
    return future


def leak_correlation(y: pd.Series, x: pd.Series) -> float | None:
    """Smaller of the level and first-difference correlations: two trending series correlate in
    levels without any leak, a leak correlates in both."""
    if x.nunique() <= 1 or len(x) < 10:
        return None
    level = abs(float(np.corrcoef(y, x)[0, 1]))
    change = abs(float(np.corrcoef(np.diff(y), np.diff(x))[0, 1]))
    if not (np.isfinite(level) and np.isfinite(change)):
        return None
    return min(level, change)
