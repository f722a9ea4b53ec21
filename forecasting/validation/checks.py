"""The checks on one segment's series, in order: duplicates, frequency and calendar, missing periods,
an incomplete last period, values, length for the backtest, outliers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.errors import DataError
from forecasting.folds import MIN_BACKTEST, MIN_OBSERVATIONS, FoldPlan, plan_folds
from forecasting.frequency import (
    KIND_ONLY,
    calendar,
    check_on_calendar,
    infer_frequency,
    kind,
    normalize_frequency,
    season_length,
)
from forecasting.preprocess import (
    checks_trailing,
    fill_missing,
    outlier_scores,
    trailing_drop,
)
from forecasting.validation.covariates import check_covariates
from forecasting.validation.parsing import parse_covariate, parse_dates, parse_target
from forecasting.validation.report import PreparedSegment, SegmentReport, rows_text
from forecasting.validation.reshape import aggregate, training_window


class SegmentChecker:
    """Checks one segment's rows in order and builds its :class:`PreparedSegment`; every problem is a
    finding in ``self.report``."""

    def __init__(self, key, rows, spec, policy, horizon, folds, log_transform):
        self.key, self.rows, self.spec, self.policy = key, rows, spec, policy
        self.horizon, self.folds, self.log_transform = horizon, folds, log_transform
        self.report = SegmentReport(segment=key, rows=len(rows))
        self.filled: list[int] = []  # positions of the history that had no value and were filled
        self.dropped = 0  # incomplete trailing periods dropped (and forecast instead)
        self.partial_aggregate = False  # the last aggregated period was partial (already reported)

    def run(self) -> PreparedSegment | None:
        spec = self.spec
        empty = [c for c in spec.segment_cols if self.rows[c].isna().any()]
        if empty:
            self.report.error(empty[0], "segment", f"segment column {empty[0]!r} is empty in {len(self.rows)} row(s) ({rows_text(self.rows['_row'])})")
            return None
        rows = self.rows["_row"]
        ds = parse_dates(self.rows[spec.time_col], rows, spec.time_col, self.report)
        y = parse_target(self.rows[spec.target_col], rows, spec.target_col, self.report, spec.decimal)
        if ds is None or y is None:
            return None
        data = pd.DataFrame({"ds": ds.values, "y": y.values, "_row": rows.values})
        for col in spec.covariate_cols:
            data[col] = parse_covariate(self.rows[col], rows, col, self.report, spec.decimal)
        if self.report.errors:
            return None
        data = training_window(data.sort_values("ds", kind="stable"), spec, self.report)
        if spec.aggregate and not self.report.errors:
            data, partial_last = aggregate(data, spec, self.report)  # rows sharing a period are combined by the aggregation itself
            self.dropped += int(partial_last)
            self.partial_aggregate = partial_last
        if self.report.errors or data is None:
            return None
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
        plan = self._check_length(len(history), season)
        self._outliers(history, season)
        future = check_covariates(history, future_rows, spec, self.policy, self.horizon + self.dropped, freq, self.report)
        if self.report.errors or plan is None:
            return None
        self.report.first, self.report.last = str(history["ds"].iloc[0].date()), str(history["ds"].iloc[-1].date())
        self.report.folds, self.report.window, self.report.low_confidence = plan.folds, plan.window, plan.reason()
        covariates = [c for c in spec.covariate_cols if c in history.columns]
        seg_values = {c: self.rows[c].iloc[0] for c in spec.segment_cols}
        winsorize_at = self.policy.outlier_threshold if self.policy.outliers == "winsorize" else None
        return PreparedSegment(self.key, seg_values, history.reset_index(drop=True), future, freq, plan.folds, covariates,
                               window=plan.window, low_confidence=plan.reason(), filled=self.filled, fill=self.policy.fill_missing,
                               winsorize_at=winsorize_at)

    def _split_future(self, data: pd.DataFrame):
        """Rows after the last observed target are future rows (they carry future covariates)."""
        observed = data["y"].notna()
        last = data.loc[observed, "ds"].max()
        future = data[data["ds"] > last]
        history = data[data["ds"] <= last]
        if len(future) > int(self.partial_aggregate) and not self.spec.covariate_cols:
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
        if ds.nunique() < MIN_OBSERVATIONS:
            self.report.error(self.spec.target_col, "too_short", f"series too short: {ds.nunique()} period(s); at least {MIN_OBSERVATIONS} are needed to forecast")
            return None
        try:
            if self.spec.aggregate:
                return self.spec.aggregate
            if self.spec.frequency == "auto":
                return infer_frequency(ds)
            wanted = KIND_ONLY.get(self.spec.frequency.strip().upper())
            if wanted:  # the kind is given, the anchor is read from the dates
                found = infer_frequency(ds)
                if kind(found) != wanted:
                    raise DataError(f"the dates are {found}, not the {self.spec.frequency!r} frequency that was set")
                return found
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
            self.filled = [int(p) for p in np.flatnonzero(missing.to_numpy())]
            out["y"] = fill_missing(out["y"], self.policy.fill_missing)
            absent = out["_row"].isna()  # periods with no row at all: covariates follow the same fill
            for cov in self.spec.covariate_cols:
                out.loc[absent, cov] = fill_missing(out[cov], self.policy.fill_missing)[absent]
            self.report.warn(col, "missing", f"{what}; filled by {self.policy.fill_missing} (in the backtest, from each training window alone)")
        return out.reset_index()

    def _trailing(self, history: pd.DataFrame, future_rows: pd.DataFrame):
        """An incomplete last period (an extract taken mid-period) is dropped and forecast instead: the
        forecast then covers it plus ``horizon`` periods, up to ``horizon`` after the last date given."""
        freq = self.report.frequency or "D"
        if self.policy.incomplete_trailing == "keep" or not checks_trailing(freq) or self.filled and self.filled[-1] == len(history) - 1:
            return history, future_rows
        share = trailing_drop(history["y"].to_numpy(dtype=float), season_length(freq), self.policy.incomplete_ratio, self.policy.outlier_threshold)
        if share is None:
            return history, future_rows
        when, last = history["ds"].iloc[-1].date(), float(history["y"].iloc[-1])
        msg = f"last period {when} looks incomplete: {last:,.6g} is {share:.0%} of the recent median and far below the periods before it"
        if self.policy.incomplete_trailing == "drop":
            self.report.warn(self.spec.target_col, "incomplete_trailing",
                             f"{msg}; dropped and forecast instead, so the forecast still runs {self.horizon} periods past {when} "
                             "(set incomplete_trailing=warn to keep it)")
            self.dropped += 1
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

    def _check_length(self, n: int, season: int) -> FoldPlan | None:
        """The backtest the history allows (:mod:`forecasting.folds`); too few periods is an error, a
        thin backtest a warning that says what was used."""
        col = self.spec.target_col
        if n < MIN_OBSERVATIONS:
            self.report.error(col, "too_short", f"series too short: {n} period(s); at least {MIN_OBSERVATIONS} are needed to forecast")
            return None
        plan = plan_folds(n, self.horizon, self.folds, season)
        if plan.folds == 0:
            self.report.warn(col, "too_short", f"short history: {n} periods, too few for a backtest (need {MIN_BACKTEST}); the champion is "
                             f"the naive forecast (the last value) and the segment is low confidence")
        elif plan.window < self.horizon:
            self.report.warn(col, "too_short", f"short history: {n} periods; the backtest scores {plan.window} of the {self.horizon} periods "
                             f"forecast (one fold) and the forecast still covers all {self.horizon}; low confidence")
        elif plan.folds < self.folds:
            self.report.warn(col, "too_short", f"{n} periods allow {plan.folds} backtest fold(s) of horizon {self.horizon}, not {self.folds}")
        return plan

    def _outliers(self, history: pd.DataFrame, season: int) -> None:
        """Flag isolated spikes against trend and season (:func:`forecasting.preprocess.outlier_scores`).
        Winsorizing is not done here: each model fit clips against its own training window."""
        y = history["y"]
        flagged = outlier_scores(y.to_numpy(dtype=float), season) > self.policy.outlier_threshold
        if not flagged.any():
            return
        dates = ", ".join(f"{d.date()}={v:,.6g}" for d, v in zip(history.loc[flagged, "ds"][:3], y[flagged][:3]))
        msg = (f"{int(flagged.sum())} outlier(s): isolated jumps beyond {self.policy.outlier_threshold:g} robust units from both "
               f"neighbouring periods (e.g. {dates})")
        if self.policy.outliers == "winsorize":
            msg += "; clipped before each fit, against that fit's training window"
        self.report.warn(self.spec.target_col, "outliers", msg)
