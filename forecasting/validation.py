"""Validation of each segment: a report of errors (cannot train) and warnings, and the cleaned series."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from forecasting.contract import DataSpec, check_columns, has_timezone, split_segments
from forecasting.errors import DataError
from forecasting.frequency import (
    calendar,
    check_on_calendar,
    future_dates,
    infer_frequency,
    normalize_frequency,
    season_length,
)

MIN_TRAIN_FLOOR = 12


class ValidationPolicy(BaseModel):
    """What to do about each data problem. Errors stop the segment; warnings are reported and handled."""

    duplicates: Literal["error", "sum", "mean", "last"] = "error"
    fill_missing: Literal["error", "interpolate", "zero", "ffill"] = "interpolate"
    max_missing_fraction: float = Field(0.2, ge=0, le=1)
    negative: Literal["allow", "warn", "error"] = "warn"
    incomplete_trailing: Literal["warn", "drop"] = "drop"
    incomplete_ratio: float = Field(0.5, gt=0, lt=1, description="last value below this share of the recent median")
    outliers: Literal["flag", "winsorize"] = "flag"
    outlier_threshold: float = Field(6.0, gt=0, description="robust z-score (MAD) against a rolling median")
    leak_correlation: float = Field(0.95, gt=0, le=1)
    leaky_covariates: Literal["error", "drop"] = "error"


class Finding(BaseModel):
    level: Literal["error", "warning"]
    segment: str
    column: str
    check: str
    message: str

    def line(self) -> str:
        return f"segment {self.segment!r}: {self.message}"


class SegmentReport(BaseModel):
    segment: str
    findings: list[Finding] = Field(default_factory=list)
    rows: int = 0
    frequency: str | None = None
    first: str | None = None
    last: str | None = None
    folds: int | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


class ValidationReport(BaseModel):
    segments: dict[str, SegmentReport] = Field(default_factory=dict)

    @property
    def failed(self) -> list[str]:
        return [key for key, rep in self.segments.items() if not rep.ok]

    def to_frame(self) -> pd.DataFrame:
        rows = [
            {"segment": key, "level": f.level, "column": f.column, "check": f.check, "message": f.message}
            for key, rep in self.segments.items()
            for f in rep.findings
        ]
        return pd.DataFrame(rows, columns=["segment", "level", "column", "check", "message"])


@dataclass
class PreparedSegment:
    """A segment that passed validation: history on the full calendar and the future covariates."""

    key: str
    values: dict[str, object]
    history: pd.DataFrame  # ds, y, covariates; regular calendar, no gaps
    future: pd.DataFrame  # ds, covariates for the horizon (only ds when there are none)
    frequency: str
    folds: int
    covariates: list[str] = field(default_factory=list)


def min_length(horizon: int, folds: int, season: int) -> int:
    """Shortest series we train: ``folds`` backtest windows of one horizon each, plus a first training
    window of ``max(2 x season length, 12)`` points."""
    return folds * horizon + max(2 * season, MIN_TRAIN_FLOOR)


def validate(
    frame: pd.DataFrame,
    spec: DataSpec,
    policy: ValidationPolicy,
    horizon: int,
    folds: int,
    log_transform: bool = False,
) -> tuple[ValidationReport, dict[str, PreparedSegment]]:
    """Validate every segment of ``frame``; return the report and the segments that can be trained."""
    check_columns(frame, spec)
    frame = frame.reset_index(drop=True)
    frame = frame.assign(_row=frame.index + 2)  # spreadsheet row: the header is row 1
    report = ValidationReport()
    prepared: dict[str, PreparedSegment] = {}
    for key, rows in split_segments(frame, spec).items():
        checker = _SegmentChecker(key, rows, spec, policy, horizon, folds, log_transform)
        segment = checker.run()
        report.segments[key] = checker.report
        if segment is not None and checker.report.ok:
            prepared[key] = segment
    return report, prepared


class _SegmentChecker:
    def __init__(self, key, rows, spec, policy, horizon, folds, log_transform):
        self.key, self.rows, self.spec, self.policy = key, rows, spec, policy
        self.horizon, self.folds, self.log_transform = horizon, folds, log_transform
        self.report = SegmentReport(segment=key, rows=len(rows))

    def error(self, column: str, check: str, message: str) -> None:
        self.report.findings.append(Finding(level="error", segment=self.key, column=column, check=check, message=message))

    def warn(self, column: str, check: str, message: str) -> None:
        self.report.findings.append(Finding(level="warning", segment=self.key, column=column, check=check, message=message))

    def run(self) -> PreparedSegment | None:
        spec = self.spec
        empty = [c for c in spec.segment_cols if self.rows[c].isna().any()]
        if empty:
            self.error(empty[0], "segment", f"segment column {empty[0]!r} is empty in {len(self.rows)} row(s) ({_rows(self.rows['_row'])})")
            return None
        ds = self._parse_dates()
        y = self._parse_target()
        if ds is None or y is None:
            return None
        data = pd.DataFrame({"ds": ds.values, "y": y.values, "_row": self.rows["_row"].values})
        for col in spec.covariate_cols:
            data[col] = pd.to_numeric(self.rows[col], errors="coerce").values
            bad = self.rows[col].notna() & data[col].isna().values
            if bad.any():
                self.error(col, "covariate", f"covariate {col!r} has non-numeric values {_values(self.rows[col][bad.values])} ({_rows(self.rows['_row'][bad.values])})")
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
        future = self._covariates(history, future_rows, freq)
        if self.report.errors or folds is None:
            return None
        self.report.first, self.report.last = str(history["ds"].iloc[0].date()), str(history["ds"].iloc[-1].date())
        self.report.folds = folds
        covariates = [c for c in spec.covariate_cols if c in history.columns]
        seg_values = {c: self.rows[c].iloc[0] for c in spec.segment_cols}
        return PreparedSegment(self.key, seg_values, history.reset_index(drop=True), future, freq, folds, covariates)

    # --- dates -------------------------------------------------------------------------------------
    def _parse_dates(self) -> pd.Series | None:
        col = self.spec.time_col
        raw = self.rows[col]
        rows = self.rows["_row"]
        if isinstance(raw.dtype, pd.DatetimeTZDtype):
            self.error(col, "timezone", f"time column {col!r} is timezone-aware ({raw.dtype.tz}); give timezone-naive local dates")
            return None
        if pd.api.types.is_datetime64_any_dtype(raw):
            if raw.isna().any():
                self.error(col, "dates", f"time column {col!r} is empty in {_rows(rows[raw.isna()])}")
                return None
            return pd.to_datetime(raw)
        text = raw.astype("string").str.strip()
        empty = text.isna() | (text == "")
        if empty.any():
            self.error(col, "dates", f"time column {col!r} is empty in {_rows(rows[empty])}")
            return None
        tz = has_timezone(text)
        if tz.any():
            self.error(col, "timezone", f"time column {col!r} has timezone-aware values like {text[tz].iloc[0]!r} ({_rows(rows[tz])}); give timezone-naive local dates")
            return None
        shapes = text.map(_date_shape)
        counts = shapes.value_counts()
        if len(counts) > 1:
            parts = [f"{shape!r} ({n} rows, e.g. {text[shapes == shape].iloc[0]!r} at row {rows[shapes == shape].iloc[0]})" for shape, n in counts.items()]
            self.error(col, "dates", f"mixed date formats in {col!r}: " + " vs ".join(parts[:3]))
            return None
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601" if _is_iso(counts.index[0]) else None)
        bad = parsed.isna()
        if bad.any():
            self.error(col, "dates", f"unparseable dates in {col!r}: {_values(text[bad])} ({_rows(rows[bad])})")
            return None
        return parsed

    # --- target ------------------------------------------------------------------------------------
    def _parse_target(self) -> pd.Series | None:
        col = self.spec.target_col
        raw = self.rows[col]
        rows = self.rows["_row"]
        values = pd.to_numeric(raw, errors="coerce").astype(float)
        blank = raw.astype("string").str.strip().str.lower().isin(["", "nan", "na", "null"])
        non_numeric = raw.notna() & values.isna() & ~blank.fillna(True)
        if non_numeric.any():
            self.error(col, "target", f"target {col!r} has non-numeric values {_values(raw[non_numeric])} ({_rows(rows[non_numeric])})")
            return None
        infinite = np.isinf(values)
        if infinite.any():
            self.error(col, "target", f"target {col!r} has infinite values ({_rows(rows[infinite])})")
            return None
        if values.isna().all():
            self.error(col, "target", f"target {col!r} is empty (all {len(values)} values are missing)")
            return None
        return values

    def _split_future(self, data: pd.DataFrame):
        """Rows after the last observed target are future rows (they carry future covariates)."""
        observed = data["y"].notna()
        last = data.loc[observed, "ds"].max()
        future = data[data["ds"] > last]
        history = data[data["ds"] <= last]
        if len(future) and not self.spec.covariate_cols:
            self.warn(self.spec.target_col, "target", f"{len(future)} trailing row(s) after {last.date()} have no target and were ignored ({_rows(future['_row'])})")
        return history, future

    def _resolve_duplicates(self, history: pd.DataFrame) -> pd.DataFrame | None:
        dup = history["ds"].duplicated(keep=False)
        if not dup.any():
            return history
        col = self.spec.time_col
        dates = ", ".join(str(d.date()) for d in history.loc[dup, "ds"].drop_duplicates()[:3])
        policy = self.policy.duplicates
        if policy == "error":
            self.error(col, "duplicates", f"{int(dup.sum())} rows share a timestamp (e.g. {dates}; {_rows(history.loc[dup, '_row'])}); set duplicates=sum|mean|last")
            return None
        self.warn(col, "duplicates", f"{int(dup.sum())} rows share a timestamp (e.g. {dates}); combined by {policy}")
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
            self.error(self.spec.time_col, "frequency", str(exc))
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
                self.error(col, "missing", f"{what}{limit}")
                return None
            out["y"] = _fill(out["y"], self.policy.fill_missing)
            absent = out["_row"].isna()  # periods with no row at all: covariates follow the same fill
            for cov in self.spec.covariate_cols:
                out.loc[absent, cov] = _fill(out[cov], self.policy.fill_missing)[absent]
            self.warn(col, "missing", f"{what}; filled by {self.policy.fill_missing}")
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
                self.warn(self.spec.target_col, "incomplete_trailing", f"{msg}; dropped (set incomplete_trailing=warn to keep it)")
                dropped = history.iloc[-1:].drop(columns=["y"])
                return history.iloc[:-1], pd.concat([dropped, future_rows], ignore_index=True)
            self.warn(self.spec.target_col, "incomplete_trailing", msg)
        return history, future_rows

    def _check_values(self, values: pd.Series) -> None:
        col = self.spec.target_col
        negative = values < 0
        if negative.any():
            msg = f"target {col!r} has {int(negative.sum())} negative value(s) (min {values.min():,.6g})"
            if self.log_transform:
                self.error(col, "negative", f"{msg}: the log transform needs positive values")
            elif self.policy.negative == "error":
                self.error(col, "negative", msg)
            elif self.policy.negative == "warn":
                self.warn(col, "negative", msg)
        if values.nunique() <= 1:
            self.error(col, "constant", f"target {col!r} is constant ({values.iloc[0]:,.6g} in all {len(values)} periods): nothing to learn")

    def _check_length(self, n: int, season: int) -> int | None:
        need_one = min_length(self.horizon, 1, season)
        if n < need_one:
            self.error(self.spec.target_col, "too_short", f"series too short: {n} periods, need at least {need_one} (horizon {self.horizon} + a first training window of max(2 x season {season}, {MIN_TRAIN_FLOOR}))")
            return None
        folds = min(self.folds, (n - max(2 * season, MIN_TRAIN_FLOOR)) // self.horizon)
        if folds < self.folds:
            self.warn(self.spec.target_col, "too_short", f"{n} periods allow {folds} backtest fold(s) of horizon {self.horizon}, not {self.folds}")
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
        self.warn(self.spec.target_col, "outliers", msg)
        return history

    def _covariates(self, history: pd.DataFrame, future_rows: pd.DataFrame, freq: str) -> pd.DataFrame:
        dates = future_dates(history["ds"].iloc[-1], self.horizon, freq)
        future = pd.DataFrame({"ds": dates})
        target = self.spec.target_col
        for col in list(self.spec.covariate_cols):
            x = history[col]
            if x.isna().any():
                sample = ", ".join(str(d.date()) for d in history.loc[x.isna(), "ds"][:3])
                self.error(col, "covariate", f"covariate {col!r} is missing in {int(x.isna().sum())} historical period(s) (e.g. {sample})")
                continue
            leak = _leak_correlation(history["y"], x)
            if leak is not None and leak >= self.policy.leak_correlation:
                msg = f"covariate {col!r} leaks the target {target!r} (correlation {leak:.3f} >= {self.policy.leak_correlation}, also in period-to-period changes): it is not known in advance"
                if self.policy.leaky_covariates == "error":
                    self.error(col, "leakage", f"{msg}; remove it or set leaky_covariates=drop")
                else:
                    self.warn(col, "leakage", f"{msg}; dropped")
                    history.drop(columns=[col], inplace=True)
                continue
            known = future_rows.set_index("ds")[col].dropna() if len(future_rows) else pd.Series(dtype=float)
            known = known[~known.index.duplicated(keep="last")]
            values = known.reindex(dates)
            if values.isna().any():
                gap = dates[values.isna().values]
                self.error(col, "future_covariate", f"covariate {col!r} is not available for the forecast horizon: {len(gap)} of {self.horizon} future periods have no value ({gap[0].date()} .. {gap[-1].date()}); add rows with future dates, empty {target!r} and the covariate filled")
                continue
            future[col] = values.values
        return future


def _fill(y: pd.Series, how: str) -> pd.Series:
    if how == "zero":
        return y.fillna(0.0)
    if how == "ffill":
        return y.ffill()
    return y.interpolate(method="linear", limit_direction="both")


def _leak_correlation(y: pd.Series, x: pd.Series) -> float | None:
    """Smaller of the level and first-difference correlations: two trending series correlate in
    levels without any leak, a leak correlates in both."""
    if x.nunique() <= 1 or len(x) < 10:
        return None
    level = abs(float(np.corrcoef(y, x)[0, 1]))
    change = abs(float(np.corrcoef(np.diff(y), np.diff(x))[0, 1]))
    if not (np.isfinite(level) and np.isfinite(change)):
        return None
    return min(level, change)


def _date_shape(text: str) -> str:
    shape = re.sub(r"\d", "9", text)
    shape = re.sub(r"[A-Za-z]+", "a", shape)
    # 2024-1-5 and 2024-01-05 are the same format
    return re.sub(r"9+", "9", shape)


def _is_iso(shape: str) -> bool:
    return bool(re.fullmatch(r"9-9-9(?:[ a]9:9(?::9(?:\.9)?)?)?", shape)) or shape == "9"


def _rows(rows: pd.Series, limit: int = 5) -> str:
    rows = list(rows)
    head = ", ".join(str(r) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {head}{more}"


def _values(values: pd.Series, limit: int = 3) -> str:
    shown = ", ".join(repr(str(v)) for v in list(values)[:limit])
    return shown + (" ..." if len(values) > limit else "")
