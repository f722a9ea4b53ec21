"""Covariates of one segment: missing values filled as the policy says (and reported), no leak of the
target, and a value for every period of the horizon. A period with no row at all is a missing value
like a blank cell: the covariate's own policy fills it (a 0/1 flag: 0), never the target's."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.contract import DataSpec
from forecasting.frequency import future_dates
from forecasting.preprocess import refill_covariate
from forecasting.validation.accounting import Ledger
from forecasting.validation.report import SegmentReport, ValidationPolicy


def check_covariates(history: pd.DataFrame, future_rows: pd.DataFrame, spec: DataSpec, policy: ValidationPolicy,
                     horizon: int, freq: str, report: SegmentReport, ledger: Ledger | None = None
                     ) -> tuple[pd.DataFrame, dict[str, tuple[list[int], str]]]:
    """The future frame (``ds`` of the horizon plus each usable covariate), and per covariate the history
    positions that were filled and how (a backtest refills them from each training window alone).
    Missing values are filled in ``history`` in place as ``policy`` says, a leaky covariate that the
    policy drops is removed from it; every other problem is an error in ``report``; every fill and drop
    is counted in ``ledger``."""
    ledger = ledger or Ledger([])
    dates = future_dates(history["ds"].iloc[-1], horizon, freq)
    future = pd.DataFrame({"ds": dates})
    fills: dict[str, tuple[list[int], str]] = {}
    target = spec.target_col
    for col in list(spec.covariate_cols):
        known = future_rows.set_index("ds")[col].dropna() if len(future_rows) else pd.Series(dtype=float)
        ahead = known[~known.index.duplicated(keep="last")].reindex(dates)
        past = history[col]
        given = past.notna()
        leak = leak_correlation(history["y"][given], past[given])
        if leak is not None and leak >= policy.leak_correlation:  # first: no point asking for its future values
            msg = (f"covariate {col!r} leaks the target {target!r} (correlation {leak:.3f} >= {policy.leak_correlation}, "
                   "also in period-to-period changes): it is not known in advance")
            if policy.leaky_covariates == "error":
                report.error(col, "leakage", f"{msg}; remove it or set leaky_covariates=drop")
            else:
                report.warn(col, "leakage", f"{msg}; dropped")
                ledger.change(col, "dropped", int(given.sum()), "leaks the target: column not used")
                history.drop(columns=[col], inplace=True)
            continue
        how = _fill_rule(policy.covariate_fill(col), past)
        if past.isna().any() or ahead.isna().any():
            if how == "error":
                _missing_errors(col, past, ahead, history["ds"], dates, policy, target, report)
                continue
            filled = fill_covariate(pd.concat([past, ahead], ignore_index=True), how, past)
            if filled is None:
                report.error(col, "covariate", f"covariate {col!r} has no value in the history to fill its {int(past.isna().sum() + ahead.isna().sum())} "
                             f"missing value(s) from (covariate_missing={how})")
                continue
            where = ("; in the backtest each training window fills its own from that window alone"
                     if how in ("ffill", "mean", "last") and past.isna().any() else "")
            report.warn(col, "covariate_fill", f"covariate {col!r}: {int(past.isna().sum())} missing value(s) in the history and "
                        f"{int(ahead.isna().sum())} in the forecast horizon filled with {_describe(how, past)}{where}")
            ledger.change(col, "filled", int(past.isna().sum()), f"history: {_describe(how, past)}", history["ds"][past.isna()])
            ledger.change(col, "filled", int(ahead.isna().sum()), f"forecast horizon: {_describe(how, past)}", dates[ahead.isna().to_numpy()])
            fills[col] = ([int(p) for p in np.flatnonzero(past.isna().to_numpy())], how)
            history[col] = filled.iloc[: len(past)].to_numpy()
            ahead = pd.Series(filled.iloc[len(past):].to_numpy(), index=dates)
        future[col] = ahead.to_numpy()
    return future, fills


def is_flag(values: pd.Series) -> bool:
    """A 0/1 indicator (promotions, holidays): every value given is 0 or 1."""
    given = values.dropna()
    return len(given) > 0 and bool(given.isin([0, 1]).all())


def _fill_rule(rule: str, past: pd.Series) -> str:
    """``auto``: blanks in a 0/1 flag mean "no" (zero); anything else must be given."""
    if rule == "auto":
        return "zero" if is_flag(past) else "error"
    return rule


def fill_covariate(values: pd.Series, how: str, past: pd.Series) -> pd.Series | None:
    """History followed by the horizon, missing values filled; None when the history has no value."""
    if how != "zero" and past.dropna().empty:
        return None
    return refill_covariate(values, how, past)


def _describe(how: str, past: pd.Series) -> str:
    given = past.dropna()
    if how == "zero":
        return "0" + (" (a 0/1 flag: a blank means no)" if is_flag(past) else "")
    if how == "ffill":
        return "the previous value"
    if how == "mean":
        return f"the history's mean {float(given.mean()):,.6g}"
    return f"the history's last value {float(given.iloc[-1]):,.6g}"


def _missing_errors(col, past, ahead, history_dates, dates, policy, target, report) -> None:
    hint = "set covariate_missing=zero|ffill|mean|last (--covariate-missing) to fill them"
    if past.isna().any():
        sample = ", ".join(str(d.date()) for d in history_dates[past.isna()][:3])
        report.error(col, "covariate", f"covariate {col!r} is missing in {int(past.isna().sum())} historical period(s) (e.g. {sample}); {hint}")
    if ahead.isna().any():
        gap = dates[ahead.isna().to_numpy()]
        report.error(col, "future_covariate", f"covariate {col!r} is not available for the forecast horizon: {len(gap)} of {len(dates)} future periods "
                     f"have no value ({gap[0].date()} .. {gap[-1].date()}); add rows with future dates, empty {target!r} and the covariate filled, "
                     f"a covariates file, or {hint}")


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
