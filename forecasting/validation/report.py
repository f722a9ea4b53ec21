"""What validation decides and reports: the policy for each data problem, the findings per segment,
and the cleaned segment handed to the backtest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field, field_validator

CovariateFill = Literal["auto", "error", "zero", "ffill", "mean", "last"]


class ValidationPolicy(BaseModel):
    """What to do about each data problem. Errors stop the segment; warnings are reported and handled."""

    duplicates: Literal["error", "sum", "mean", "last"] = "error"
    fill_missing: Literal["error", "interpolate", "zero", "ffill"] = "interpolate"
    max_missing_fraction: float = Field(0.2, ge=0, le=1)
    negative: Literal["allow", "warn", "error"] = "warn"
    incomplete_trailing: Literal["drop", "warn", "keep"] = Field(
        "drop", description="a last period far below the ones before it (daily to monthly data): drop and forecast it, warn, or keep without a check")
    incomplete_ratio: float = Field(0.5, gt=0, lt=1, description="last value below this share of the recent median")
    outliers: Literal["flag", "winsorize"] = "flag"
    outlier_threshold: float = Field(6.0, gt=0, description="robust units (MAD of period-to-period changes) a point must jump from both neighbours")
    leak_correlation: float = Field(0.95, gt=0, le=1)
    leaky_covariates: Literal["error", "drop"] = "error"
    covariate_missing: CovariateFill = Field(
        "auto", description="missing covariate values, history and future: auto (zero for 0/1 flags, error otherwise), error, zero, "
        "ffill (the previous value), mean (of the history), last (the last value of the history)")
    covariate_missing_by_column: dict[str, CovariateFill] = Field(default_factory=dict, description="per covariate, e.g. {'price': 'ffill'}")
    stale: Literal["error", "warn", "skip"] = Field(
        "warn", description="a segment whose last observation is stale_after or more periods before the data's last date (a discontinued "
        "product, a stale extract): error, warn (forecast from its own end, low confidence everywhere) or skip (not forecast, reported)")
    stale_after: int = Field(3, ge=1, description="periods (of the segment's frequency) behind the data's last date that make a segment stale")

    @field_validator("covariate_missing_by_column", mode="before")
    @classmethod
    def _parse_pairs(cls, value):
        """``promo=zero,price=ffill`` from the CLI."""
        if isinstance(value, str):
            pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
            if any(len(pair) != 2 for pair in pairs):
                raise ValueError(f"covariate_missing_by_column must look like promo=zero,price=ffill; got {value!r}")
            return {k.strip(): v.strip() for k, v in pairs}
        return value

    def covariate_fill(self, column: str) -> str:
        return self.covariate_missing_by_column.get(column, self.covariate_missing)


class Finding(BaseModel):
    level: Literal["error", "warning", "info"]
    segment: str
    column: str
    check: str
    message: str

    def line(self) -> str:
        return f"segment {self.segment!r}: {self.message}"


class RowDrop(BaseModel):
    """Input rows that did not reach the model, and why."""

    reason: str  # a check name: before_start, partial_first_period, no_target, covariates_before_end, ...
    rows: int
    first: str | None = None  # the dates of the rows dropped
    last: str | None = None
    detail: str = ""


class ValueChange(BaseModel):
    """Values the tool created or changed in one column: fills, parsed formats, aggregation, clips."""

    column: str
    what: Literal["filled", "parsed", "aggregated", "discarded", "clipped", "dropped", "merged"]
    count: int
    method: str
    dates: list[str] = Field(default_factory=list)  # the first few periods concerned


class RowAccounting(BaseModel):
    """Every input row of a segment accounted for: ``rows_read == rows_used + rows_dropped + rows_merged``,
    and every value the tool created or changed listed with its count and method."""

    rows_read: int = 0
    rows_used: int = 0
    rows_merged: int = 0  # rows combined into another row of the same period (duplicates)
    merged_by: str = ""
    drops: list[RowDrop] = Field(default_factory=list)
    changes: list[ValueChange] = Field(default_factory=list)
    covariate_rows: int = 0  # future rows added from a covariates file (not input rows of the data)

    @property
    def rows_dropped(self) -> int:
        return sum(d.rows for d in self.drops)

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_used + self.rows_dropped + self.rows_merged

    def summary(self) -> str:
        """One line: ``60 rows read: 58 used, 1 dropped (before_start), 1 merged; 3 values filled``."""
        parts = [f"{self.rows_used} used"]
        if self.drops:
            parts.append(f"{self.rows_dropped} dropped ({', '.join(sorted({d.reason for d in self.drops}))})")
        if self.rows_merged:
            parts.append(f"{self.rows_merged} merged ({self.merged_by})")
        changed = "; ".join(f"{c.count} {c.column} {c.what} ({c.method})" for c in self.changes)
        return f"{self.rows_read} rows read: {', '.join(parts)}" + (f"; {changed}" if changed else "")


class SegmentReport(BaseModel):
    """Every finding of one segment, and what validation learned about it (frequency, span, folds)."""

    segment: str
    findings: list[Finding] = Field(default_factory=list)
    rows: int = 0
    accounting: RowAccounting = Field(default_factory=RowAccounting)
    skipped: str = ""  # why the segment is deliberately not forecast (a policy such as --stale skip), empty otherwise
    frequency: str | None = None
    first: str | None = None
    last: str | None = None
    folds: int | None = None
    window: int | None = None  # periods each backtest fold scores (the horizon unless the history is short)
    low_confidence: str = ""  # why the backtest cannot be trusted much (empty: it can)

    def error(self, column: str, check: str, message: str) -> None:
        """Record a problem that stops this segment."""
        self.findings.append(Finding(level="error", segment=self.segment, column=column, check=check, message=message))

    def warn(self, column: str, check: str, message: str) -> None:
        """Record a problem that was handled (and how) or that the user should know about."""
        self.findings.append(Finding(level="warning", segment=self.segment, column=column, check=check, message=message))

    def info(self, column: str, check: str, message: str) -> None:
        """Record what was done to the data that is not a problem (an aggregation, a window)."""
        self.findings.append(Finding(level="info", segment=self.segment, column=column, check=check, message=message))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    @property
    def infos(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "info"]

    @property
    def ok(self) -> bool:
        return not self.errors


class ValidationReport(BaseModel):
    segments: dict[str, SegmentReport] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)  # about the whole table (how its dates were read, ...)
    last_date: str | None = None  # the table's last observed date (stale segments are measured against it)

    @property
    def failed(self) -> list[str]:
        return [key for key, rep in self.segments.items() if not rep.ok]

    @property
    def skipped(self) -> list[str]:
        return [key for key, rep in self.segments.items() if rep.ok and rep.skipped]

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
    window: int = 0  # periods each backtest fold scores (0: the horizon)
    low_confidence: str = ""  # why the backtest cannot be trusted much (empty: it can)
    filled: list[int] = field(default_factory=list)  # history positions validation filled (refilled per training window)
    fill: str = "interpolate"
    # per covariate: the history positions validation filled and how (refilled per training window, and
    # in a backtest fold's test periods from that fold's training window alone)
    covariate_fills: dict[str, tuple[list[int], str]] = field(default_factory=dict)
    winsorize_at: float | None = None  # outlier threshold when outliers are clipped before each fit


def rows_text(rows: pd.Series, limit: int = 5) -> str:
    """``rows 2, 3, 7 and 12 more``: spreadsheet row numbers for a message."""
    rows = list(rows)
    head = ", ".join(str(r) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {head}{more}"


def values_text(values: pd.Series, limit: int = 3) -> str:
    """``'a', 'b', 'c' ...``: offending values for a message."""
    shown = ", ".join(repr(str(v)) for v in list(values)[:limit])
    return shown + (" ..." if len(values) > limit else "")
