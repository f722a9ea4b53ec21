"""The checks on one segment's series, in order: duplicates, frequency and calendar, missing periods,
an incomplete last period, values, length for the backtest, outliers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.errors import DataError
from forecasting.frequency import (
    calendar,
    check_on_calendar,
    infer_frequency,
    normalize_frequency,
    season_length,
)
from forecasting.validation.covariates import check_covariates
from forecasting.validation.parsing import parse_covariate, parse_dates, parse_target
from forecasting.validation.report import PreparedSegment, SegmentReport, rows_text

MIN_TRAIN_FLOOR = 12


def min_length(horizon: int, folds: int, season: int) -> int:
    """Shortest series we train: ``folds`` backtest windows of one horizon each, plus a first training
    window of ``max(2 x season length, 12)`` points."""
    return folds * horizon + max(2 * season, MIN_TRAIN_FLOOR)


class SegmentChecker:
    """Checks one segment's rows in order and builds its :class:`PreparedSegment`; every problem is a
    finding in ``self.report``."""

    def __init__(self, key, rows, spec, policy, horizon, folds, log_transform):
        self.key, self.rows, self.spec, self.policy = key, rows, spec, policy
        self.horizon, self.folds, self.log_transform = horizon, folds, log_transform
        self.report = SegmentReport(segment=key, rows=len(rows))

    def run(self) -> PreparedSegment | None:
        spec = self.spec
        empty = [c for c in spec.segment_cols if self.rows[c].isna().any()]
        if empty:
            self.report.error(empty[0], "segment", f"segment column {empty[0]!r} is empty in {len(self.rows)} row(s) ({rows_text(self.rows['_row'])})")
            return None
        rows = self.rows["_row"]
        ds = parse_dates(self.rows[spec.time_col], rows, spec.time_col, self.report)
        y = parse_target(self.rows[spec.target_col], rows, spec.target_col, self.report)
        if ds is None or y is None:
            return None
        data = pd.DataFrame({"ds": ds.values, "y": y.values, "_row": rows.values})
        for col in spec.covariate_cols:
            data[col] = parse_covariate(self.rows[col], rows, col, self.report)
        if self.report.errors:
            return None
        data = data.sort_values("ds", kind="stable")
        history, future_rows = self._split_future(data)
        if history is None:
            return None
        history = self._resolve_duplicates(history)
        if history is None:
            return None
        freq = self._frequency(history["ds"])
        if freq is None:
            return None
        self.report.frequency = freq
        history = self._regularize(history, freq)
        if history is None:
            return None
        history, future_rows = self._trailing(history, future_rows)
        values = history["y"]
        self._check_values(values)
        season = season_length(freq)
        folds = self._check_length(len(history), season)
        history = self._outliers(history, season)
        future = check_covariates(history, future_rows, spec, self.policy, self.horizon, freq, self.report)
        if self.report.errors or folds is None:
            return None
        self.report.first, self.report.last = str(history["ds"].iloc[0].date()), str(history["ds"].iloc[-1].date())
        self.report.folds = folds
        covariates = [c for c in spec.covariate_cols if c in history.columns]
        seg_values = {c: self.rows[c].iloc[0] for c in spec.segment_cols}
        return PreparedSegment(self.key, seg_values, history.reset_index(drop=True), future, freq, folds, covariates)

    def _split_future(self, data: pd.DataFrame):
        """Rows after the last observed target are future rows (they carry future covariates)."""
        observed = data["y"].notna()
        last = data.loc[observed, "ds"].max()
        future = data[data["ds"] > last]
        history = data[data["ds"] <= last]
        if len(future) and not self.spec.covariate_cols:
            self.report.warn(self.spec.target_col, "target", f"{len(future)} trailing row(s) after {last.date()} have no target and were ignored ({rows_text(future['_row'])})")
        return history, future

    def _resolve_duplicates(self, history: pd.DataFrame) -> pd.DataFrame | None:
        dup = history["ds"].duplicated(keep=False)
        if not dup.any():
            return history
        col = self.spec.time_col
        dates = ", ".join(str(d.date()) for d in history.loc[dup, "ds"].drop_duplicates()[:3])
        policy = self.policy.duplicates
        if policy == "error":
            self.report.error(col, "duplicates", f"{int(dup.sum())} rows share a timestamp (e.g. {dates}; {rows_text(history.loc[dup, '_row'])}); set duplicates=sum|mean|last")
            return None
        self.report.warn(col, "duplicates", f"{int(dup.sum())} rows share a timestamp (e.g. {dates}); combined by {policy}")
        agg = {c: ("last" if policy == "last" else policy) for c in history.columns if c not in ("ds", "_row")}
        agg["_row"] = "first"
        return history.groupby("ds", as_index=False, sort=True).agg(agg)

    def _frequency(self, ds: pd.Series) -> str | None:
        try:
            if self.spec.frequency == "auto":
                return infer_frequency(ds)
            freq = normalize_frequency(self.spec.frequency)
            check_on_calendar(pd.DatetimeIndex(ds), freq)
            return freq
        except DataError as exc:
            self.report.error(self.spec.time_col, "frequency", str(exc))
            return None

    def _regularize(self, history: pd.DataFrame, freq: str) -> pd.DataFrame | None:
        full = calendar(history["ds"].iloc[0], history["ds"].iloc[-1], freq)
        out = history.set_index("ds").reindex(full)
        out.index.name = "ds"
        missing = out["y"].isna()
        n_missing = int(missing.sum())
        if n_missing:
            col = self.spec.target_col
            sample = ", ".join(str(d.date()) for d in out.index[missing][:3])
            share = n_missing / len(out)
            what = f"{n_missing} of {len(out)} periods have no {col!r} value (e.g. {sample})"
            if self.policy.fill_missing == "error" or share > self.policy.max_missing_fraction:
                limit = "" if self.policy.fill_missing == "error" else f", more than max_missing_fraction={self.policy.max_missing_fraction}"
                self.report.error(col, "missing", f"{what}{limit}")
                return None
            out["y"] = _fill(out["y"], self.policy.fill_missing)
            absent = out["_row"].isna()  # periods with no row at all: covariates follow the same fill
            for cov in self.spec.covariate_cols:
                out.loc[absent, cov] = _fill(out[cov], self.policy.fill_missing)[absent]
            self.report.warn(col, "missing", f"{what}; filled by {self.policy.fill_missing}")
        return out.reset_index()

    def _trailing(self, history: pd.DataFrame, future_rows: pd.DataFrame):
        season = season_length(self.report.frequency or "D")
        window = history["y"].iloc[-(2 * season + 1):-1]
        if len(window) < season:
            return history, future_rows
        last, median = float(history["y"].iloc[-1]), float(window.median())
        if median > 0 and last < self.policy.incomplete_ratio * median:
            when = history["ds"].iloc[-1].date()
            msg = f"last period {when} looks incomplete: {last:,.6g} is {last / median:.0%} of the recent median {median:,.6g}"
            if self.policy.incomplete_trailing == "drop":
                self.report.warn(self.spec.target_col, "incomplete_trailing", f"{msg}; dropped (set incomplete_trailing=warn to keep it)")
                dropped = history.iloc[-1:].drop(columns=["y"])
                return history.iloc[:-1], pd.concat([dropped, future_rows], ignore_index=True)
            self.report.warn(self.spec.target_col, "incomplete_trailing", msg)
        return history, future_rows

    def _check_values(self, values: pd.Series) -> None:
        col = self.spec.target_col
        negative = values < 0
        if negative.any():
            msg = f"target {col!r} has {int(negative.sum())} negative value(s) (min {values.min():,.6g})"
            if self.log_transform:
                self.report.error(col, "negative", f"{msg}: the log transform needs positive values")
            elif self.policy.negative == "error":
                self.report.error(col, "negative", msg)
            elif self.policy.negative == "warn":
                self.report.warn(col, "negative", msg)
        if values.nunique() <= 1:
            self.report.error(col, "constant", f"target {col!r} is constant ({values.iloc[0]:,.6g} in all {len(values)} periods): nothing to learn")

    def _check_length(self, n: int, season: int) -> int | None:
        need_one = min_length(self.horizon, 1, season)
        if n < need_one:
            self.report.error(self.spec.target_col, "too_short", f"series too short: {n} periods, need at least {need_one} (horizon {self.horizon} + a first training window of max(2 x season {season}, {MIN_TRAIN_FLOOR}))")
            return None
        folds = min(self.folds, (n - max(2 * season, MIN_TRAIN_FLOOR)) // self.horizon)
        if folds < self.folds:
            self.report.warn(self.spec.target_col, "too_short", f"{n} periods allow {folds} backtest fold(s) of horizon {self.horizon}, not {self.folds}")
        return folds

    def _outliers(self, history: pd.DataFrame, season: int) -> pd.DataFrame:
        y = history["y"]
        window = max(2 * season + 1, 7)
        med = y.rolling(window, center=True, min_periods=3).median()
        resid = y - med
        mad = float((resid - resid.median()).abs().median()) * 1.4826
        if not np.isfinite(mad) or mad == 0:
            return history
        z = (resid / mad).abs()
        flagged = z > self.policy.outlier_threshold
        if not flagged.any():
            return history
        dates = ", ".join(f"{d.date()}={v:,.6g}" for d, v in zip(history.loc[flagged, "ds"][:3], y[flagged][:3]))
        msg = f"{int(flagged.sum())} outlier(s) beyond {self.policy.outlier_threshold:g} robust z (e.g. {dates})"
        if self.policy.outliers == "winsorize":
            lo, hi = med - self.policy.outlier_threshold * mad, med + self.policy.outlier_threshold * mad
            history = history.assign(y=y.clip(lower=lo, upper=hi))
            msg += "; winsorized"
        self.report.warn(self.spec.target_col, "outliers", msg)
        return history


def _fill(y: pd.Series, how: str) -> pd.Series:
    if how == "zero":
        return y.fillna(0.0)
    if how == "ffill":
        return y.ffill()
    return y.interpolate(method="linear", limit_direction="both")
