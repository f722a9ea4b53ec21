"""The checks on one segment's series, in order: parsing, rows a covariates file added, the training
window, aggregation, duplicates, frequency and calendar, missing periods, an incomplete last period,
values, length for the backtest, outliers, covariates. Every input row is followed by a
:class:`~forecasting.validation.accounting.Ledger`: where it went, or why it did not arrive."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from forecasting.contract import COVARIATES_FILE_ROW
from forecasting.errors import DataError
from forecasting.folds import MIN_BACKTEST, MIN_OBSERVATIONS, FoldPlan, plan_folds
from forecasting.frequency import (
    KIND_ONLY,
    calendar,
    check_on_calendar,
    future_dates,
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
from forecasting.validation.accounting import Ledger
from forecasting.validation.covariates import check_covariates
from forecasting.validation.parsing import parse_covariate, parse_dates, parse_target
from forecasting.validation.report import PreparedSegment, SegmentReport, rows_text
from forecasting.validation.reshape import aggregate, training_window


class SegmentChecker:
    """Checks one segment's rows in order and builds its :class:`PreparedSegment`; every problem is a
    finding in ``self.report``, every row and changed value is in ``self.report.accounting``."""

    def __init__(self, key, rows, spec, policy, horizon, folds, log_transform, date_format=None, closed_days=None):
        self.key, self.spec, self.policy = key, spec, policy
        self.horizon, self.folds, self.log_transform = horizon, folds, log_transform
        self.date_format, self.closed_days = date_format, closed_days
        from_file = rows[COVARIATES_FILE_ROW].fillna(False).astype(bool) if COVARIATES_FILE_ROW in rows else pd.Series(False, index=rows.index)
        self.rows, self.from_file = rows, from_file.to_numpy()
        self.report = SegmentReport(segment=key, rows=int((~from_file).sum()))
        self.ledger = Ledger(rows.loc[~from_file, "_row"])
        self.filled: list[int] = []  # positions of the history that had no value and were filled
        self.dropped = 0  # incomplete trailing periods dropped (and forecast instead)
        self.partial_aggregate = False  # the last aggregated period was partial (already reported)
        self.last_observed: pd.Timestamp | None = None  # the last period with a value, before any is dropped
        self.prepared: PreparedSegment | None = None

    def run(self) -> PreparedSegment | None:
        segment = self._check()
        if segment is None or not self.report.ok:
            self.report.accounting = self.ledger.fail("; ".join(f.message for f in self.report.errors) or "not forecast")
            return None
        self.report.accounting = self.ledger.close()
        self.prepared = segment
        return segment

    def refuse(self, reason: str, level: str, check: str, column: str) -> None:
        """A decision taken after the segment passed (a table-level policy such as --stale): the segment
        is not forecast and its rows are accounted as dropped with ``reason``."""
        (self.report.error if level == "error" else self.report.info)(column, check, reason)
        self.report.accounting = self.ledger.fail(reason)
        self.prepared = None

    def _check(self) -> PreparedSegment | None:
        spec = self.spec
        empty = [c for c in spec.segment_cols if self.rows[c].isna().any()]
        if empty:
            self.report.error(empty[0], "segment", f"segment column {empty[0]!r} is empty in {len(self.rows)} row(s) ({rows_text(self.rows['_row'])})")
            return None
        rows = self.rows["_row"]
        ds = parse_dates(self.rows[spec.time_col], rows, spec.time_col, self.report, self.date_format)
        forms = Counter()
        data_rows = ~self.from_file
        y = parse_target(self.rows[spec.target_col], rows, spec.target_col, self.report, spec.decimal, forms)
        if ds is None or y is None:
            return None
        data = pd.DataFrame({"ds": ds.values, "y": y.values, "_row": rows.values, "_file": self.from_file})
        self.ledger.dated(rows[data_rows], ds[data_rows])
        self._parsed(spec.target_col, forms, data.loc[data_rows, "ds"])
        if self.date_format:
            self.ledger.change(spec.time_col, "parsed", int(data_rows.sum()), f"dates read as {self.date_format}")
        for col in spec.covariate_cols:
            forms = Counter()
            data[col] = parse_covariate(self.rows[col], rows, col, self.report, spec.decimal, forms)
            self._parsed(col, forms, data["ds"])
        if self.report.errors:
            return None
        data = self._covariate_file_rows(data.sort_values("ds", kind="stable"))
        if data is None:
            return None
        data = training_window(data, spec, self.report, self.ledger)
        if spec.aggregate and not self.report.errors:
            data, partial_last = aggregate(data, spec, self.report, self.ledger, self.closed_days)
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
        self.last_observed = history["ds"].iloc[-1]
        history = self._regularize(history, freq)
        if history is None:
            return None
        history, future_rows = self._trailing(history, future_rows)
        future_rows = self._future_rows(history, future_rows, freq)
        values = history["y"]
        self._check_values(values)
        season = season_length(freq)
        plan = self._check_length(len(history), season)
        self._outliers(history, season)
        future, covariate_fills = check_covariates(history, future_rows, spec, self.policy, self.horizon + self.dropped, freq, self.report, self.ledger)
        if self.report.errors or plan is None:
            return None
        self.report.first, self.report.last = str(history["ds"].iloc[0].date()), str(history["ds"].iloc[-1].date())
        self.report.folds, self.report.window, self.report.low_confidence = plan.folds, plan.window, plan.reason()
        covariates = [c for c in spec.covariate_cols if c in history.columns]
        seg_values = {c: self.rows[c].iloc[0] for c in spec.segment_cols}
        winsorize_at = self.policy.outlier_threshold if self.policy.outliers == "winsorize" else None
        return PreparedSegment(self.key, seg_values, history.drop(columns=["_row", "_file"], errors="ignore").reset_index(drop=True), future, freq,
                               plan.folds, covariates, window=plan.window, low_confidence=plan.reason(), filled=self.filled,
                               fill=self.policy.fill_missing, winsorize_at=winsorize_at, covariate_fills=covariate_fills)

    def _parsed(self, column: str, forms: Counter, dates: pd.Series) -> None:
        for form, count in sorted(forms.items()):
            self.ledger.change(column, "parsed", count, form)

    def _covariate_file_rows(self, data: pd.DataFrame) -> pd.DataFrame | None:
        """Rows a covariates file added are future covariates: kept after the segment's last observation,
        ignored (and reported) at or before it — a promo calendar that starts before the data never
        turns its months into history."""
        added = data["_file"].to_numpy(bool)
        if not added.any():
            return data
        observed = data.loc[~added & data["y"].notna().to_numpy(), "ds"]
        if observed.empty:
            return data  # the target check reports an empty target
        last = observed.max()
        early = added & (data["ds"] <= last).to_numpy()
        if early.any():
            dates = data.loc[early, "ds"]
            self.report.info(self.spec.time_col, "covariates_file",
                             f"covariates file: {int(early.sum())} row(s) dated {dates.min().date()} .. {dates.max().date()}, at or before the "
                             f"last observation {last.date()} and not in the data, ignored (only later dates are added, as future periods)")
        self.report.accounting.covariate_rows = int((added & ~early).sum())
        self.ledger.accounting.covariate_rows = int((added & ~early).sum())
        return data[~early]

    def _split_future(self, data: pd.DataFrame):
        """Rows after the last observed target are future rows (they carry future covariates)."""
        observed = data["y"].notna()
        last = data.loc[observed, "ds"].max()
        future = data[data["ds"] > last]
        history = data[data["ds"] <= last]
        if len(future) > int(self.partial_aggregate) and not self.spec.covariate_cols:
            ignored = future.iloc[int(self.partial_aggregate):]
            self.report.warn(self.spec.target_col, "target", f"{len(ignored)} trailing row(s) after {last.date()} have no target and were ignored ({rows_text(ignored['_row'])})")
            self.ledger.drop("no_target", ignored["_row"], f"after the last observation {last.date()}, no target and no covariates to use")
            future = future.iloc[: int(self.partial_aggregate)]
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
        self.ledger.merge(history.loc[history["ds"].duplicated(keep="first"), "_row"], policy)
        periods = int(history.loc[dup, "ds"].nunique())
        self.ledger.change(self.spec.target_col, "merged", periods, f"{int(dup.sum())} rows sharing a date combined by {policy}",
                           history.loc[dup, "ds"].drop_duplicates())
        groups = history.groupby("ds", sort=True)
        values = [c for c in history.columns if c not in ("ds", "_row", "_file")]
        # sum with min_count=1: two blank cells combine to a blank (then filled and reported), never to 0
        combined = groups[values].sum(min_count=1) if policy == "sum" else getattr(groups[values], policy)()
        combined["_row"] = groups["_row"].first()
        if "_file" in history:
            combined["_file"] = groups["_file"].min()
        return combined.reset_index()

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
            absent = int(out["_row"].isna().sum())
            self.ledger.change(col, "filled", n_missing, f"{self.policy.fill_missing} ({absent} period(s) with no row, {n_missing - absent} "
                               "with an empty value; in the backtest, from each training window alone)", out.index[missing])
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
            self.ledger.change(self.spec.target_col, "discarded", 1, "incomplete last period: forecast instead", [history["ds"].iloc[-1]])
            self.dropped += 1
            dropped = history.iloc[-1:].drop(columns=["y"])
            return history.iloc[:-1], pd.concat([dropped, future_rows], ignore_index=True) if len(future_rows) else dropped.reset_index(drop=True)
        self.report.warn(self.spec.target_col, "incomplete_trailing", msg)
        return history, future_rows

    def _future_rows(self, history: pd.DataFrame, future_rows: pd.DataFrame, freq: str) -> pd.DataFrame:
        """Future rows used for the horizon's covariates: one per period of the horizon; a repeated date
        keeps its last row (the others merged), rows past the horizon or off the calendar are dropped."""
        if future_rows.empty or "_row" not in future_rows:
            return future_rows
        dates = future_dates(history["ds"].iloc[-1], self.horizon + self.dropped, freq)
        outside = ~future_rows["ds"].isin(dates)
        if outside.any():
            self.ledger.drop("beyond_horizon", future_rows.loc[outside, "_row"],
                             f"future rows after the {self.horizon + self.dropped} forecast periods or off the {freq} calendar")
        kept = future_rows[~outside]
        repeated = kept["ds"].duplicated(keep="last")
        if repeated.any():
            self.ledger.merge(kept.loc[repeated, "_row"], "last (future rows)")
        return kept[~repeated].reset_index(drop=True)

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
            self.ledger.change(self.spec.target_col, "clipped", int(flagged.sum()), "winsorized before each fit, against that fit's "
                               f"training window ({self.policy.outlier_threshold:g} robust units)", history.loc[flagged, "ds"])
        self.report.warn(self.spec.target_col, "outliers", msg)
