"""Forecast vs actuals: join what each champion forecast when it was promoted with what happened, score
each segment (MAPE, WAPE, bias, interval coverage), band it, and find segments that keep missing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from forecasting.contract import DataSpec, check_columns, has_timezone, split_segments
from forecasting.errors import DataError
from forecasting.validation.numbers import parse_numbers

# Upper edges of each status band, on the band metric (a fraction: 0.05 is 5 %).
BANDS: list[tuple[float, str]] = [(0.05, "excellent"), (0.10, "good"), (0.15, "fair"), (0.25, "poor")]
CRITICAL = "critical"


def band(error: float | None) -> str:
    """≤5 % excellent, ≤10 % good, ≤15 % fair, ≤25 % poor, above that critical."""
    if error is None or not np.isfinite(error):
        return CRITICAL
    for edge, name in BANDS:
        if error <= edge:
            return name
    return CRITICAL


class ComparisonPolicy(BaseModel):
    """How misses are judged, and what happens to a segment that keeps missing."""

    band_metric: Literal["wape", "mape"] = Field("wape", description="metric the status band is read from (WAPE: robust to small actuals)")
    drift_threshold: float = Field(0.15, gt=0, description="a period misses when |actual - forecast| / |actual| is above this (0.15: beyond 'fair')")
    consecutive_periods: int = Field(3, ge=1, description="a segment drifts when it misses this many periods in a row")
    on_drift: Literal["flag", "retrain"] = Field("flag", description="flag drifting segments, or also start their retraining")


@dataclass
class ComparisonReport:
    segments: pd.DataFrame  # one row per segment
    periods: pd.DataFrame  # one row per segment and date: actual, forecast, lineage
    totals: dict
    unmatched: list[str] = field(default_factory=list)  # segments with actuals but no champion forecast

    @property
    def drifting(self) -> list[str]:
        return sorted(self.segments.loc[self.segments["drifting"], "segment"]) if len(self.segments) else []


def load_actuals(frame: pd.DataFrame, spec: DataSpec) -> pd.DataFrame:
    """Actuals in the training data contract, as ``segment, ds, y``; every problem names the segment,
    the column and the value."""
    check_columns(frame, spec, "actuals")
    parts = []
    for key, rows in split_segments(frame, spec).items():
        text = rows[spec.time_col].astype(str).str.strip()
        if has_timezone(text).any():
            raise DataError(f"actuals, segment {key!r}: column {spec.time_col!r} must be timezone-naive, got {text[has_timezone(text)].iloc[0]!r}")
        ds = pd.to_datetime(text, errors="coerce", format="ISO8601")
        if ds.isna().any():
            raise DataError(f"actuals, segment {key!r}: column {spec.time_col!r} has a value that is not an ISO date: {text[ds.isna()].iloc[0]!r}")
        y, bad = parse_numbers(rows[spec.target_col], spec.decimal)
        if bad.any():
            raise DataError(f"actuals, segment {key!r}: column {spec.target_col!r} has a non-numeric value {rows[spec.target_col][bad].iloc[0]!r}")
        if not np.isfinite(y.dropna()).all():
            raise DataError(f"actuals, segment {key!r}: column {spec.target_col!r} has an infinite value")
        part = pd.DataFrame({"segment": key, "ds": ds.dt.normalize(), "y": y}).dropna(subset=["y"])
        dup = part["ds"].duplicated()
        if dup.any():
            raise DataError(f"actuals, segment {key!r}: date {part['ds'][dup].iloc[0].date()} appears more than once")
        parts.append(part)
    return pd.concat(parts, ignore_index=True).sort_values(["segment", "ds"], ignore_index=True)


def match_forecasts(actuals: pd.DataFrame, forecasts: pd.DataFrame) -> pd.DataFrame:
    """Each actual beside the forecast for its date made by the latest champion promoted before it;
    forecasts only ever cover dates after their training data, so every match is out of sample."""
    if forecasts.empty:
        return actuals.iloc[0:0].assign(yhat=np.nan, yhat_lower=np.nan, yhat_upper=np.nan)
    fc = forecasts.assign(ds=pd.to_datetime(forecasts["ds"]))
    fc = fc.sort_values("promoted_at").drop_duplicates(["segment", "ds"], keep="last")
    return actuals.merge(fc, on=["segment", "ds"], how="inner").sort_values(["segment", "ds"], ignore_index=True)


def longest_run(miss: pd.Series) -> int:
    """The longest stretch of consecutive missed periods."""
    longest = current = 0
    for value in miss.tolist():
        current = current + 1 if value else 0
        longest = max(longest, current)
    return longest


def compare(actuals: pd.DataFrame, forecasts: pd.DataFrame, policy: ComparisonPolicy | None = None) -> ComparisonReport:
    policy = policy or ComparisonPolicy()
    periods = match_forecasts(actuals, forecasts)
    error = periods["yhat"] - periods["y"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ape = (error.abs() / periods["y"].abs()).replace(np.inf, np.nan)
    periods = periods.assign(error=error, ape=ape, covered=(periods["y"] >= periods["yhat_lower"]) & (periods["y"] <= periods["yhat_upper"]),
                             miss=(error.abs() > policy.drift_threshold * periods["y"].abs()))
    rows = []
    for segment, part in periods.groupby("segment", sort=True):
        volume = float(part["y"].abs().sum())
        mape = float(part["ape"].mean()) if part["ape"].notna().any() else None
        wape = float(part["error"].abs().sum() / volume) if volume > 0 else None
        streak = longest_run(part["miss"])
        row = {
            "segment": segment, "periods": len(part), "first": str(part["ds"].min().date()), "last": str(part["ds"].max().date()),
            "actual_total": float(part["y"].sum()), "forecast_total": float(part["yhat"].sum()),
            "mape": mape, "wape": wape, "bias": float(part["error"].sum() / volume) if volume > 0 else None,
            "coverage": float(part["covered"].mean()),
            "missed_periods": int(part["miss"].sum()), "consecutive_misses": streak, "drifting": streak >= policy.consecutive_periods,
            "family": part["family"].iloc[-1], "registered_model": part["registered_model"].iloc[-1], "version": str(part["version"].iloc[-1]),
        }
        if "forecast_source" in part:  # the forecast table's vintages, or MLflow's promoted forecasts
            row["forecast_source"] = part["forecast_source"].iloc[-1]
        row["status"] = band(row[policy.band_metric])
        rows.append(row)
    segments = pd.DataFrame(rows)
    totals = _totals(periods, segments, policy)
    unmatched = sorted(set(actuals["segment"]) - set(periods["segment"]))
    return ComparisonReport(segments, periods, totals, unmatched)


def _totals(periods: pd.DataFrame, segments: pd.DataFrame, policy: ComparisonPolicy) -> dict:
    """Volume-weighted: large segments count for what they weigh in the business."""
    if segments.empty:
        return {"segments": 0, "periods": 0}
    volume = periods["y"].abs().sum()
    weights = segments.set_index("segment")["actual_total"].abs()
    mapes = segments.set_index("segment")["mape"].astype(float)
    known = mapes.notna() & (weights > 0)
    totals = {
        "segments": int(len(segments)),
        "periods": int(len(periods)),
        "actual_total": float(periods["y"].sum()),
        "forecast_total": float(periods["yhat"].sum()),
        "wape": float(periods["error"].abs().sum() / volume) if volume > 0 else None,
        "mape": float((mapes[known] * weights[known]).sum() / weights[known].sum()) if known.any() else None,
        "bias": float(periods["error"].sum() / volume) if volume > 0 else None,
        "coverage": float(periods["covered"].mean()),
        "drifting": int(segments["drifting"].sum()),
        "status_counts": segments["status"].value_counts().to_dict(),
    }
    totals["status"] = band(totals[policy.band_metric])
    return totals


def vintage_forecasts(vintages: pd.DataFrame) -> pd.DataFrame:
    """The forecast table's vintages as forecasts to compare: champion rows made from data that ended
    before their date (out of sample), the latest vintage winning like the latest promotion does."""
    columns = ["segment", "ds", "yhat", "yhat_lower", "yhat_upper", "family", "registered_model", "version", "run_id", "promoted_at",
               "forecast_source"]
    if vintages.empty:
        return pd.DataFrame(columns=columns)
    rows = vintages[vintages["champion"].astype(bool)]
    ds, as_of = pd.to_datetime(rows["ds"]), pd.to_datetime(rows["as_of"])
    rows = rows[as_of.isna() | (as_of < ds)]
    created = pd.to_datetime(rows["created_at"], utc=True)
    return pd.DataFrame({
        "segment": rows["segment"].astype(str), "ds": pd.to_datetime(rows["ds"]).dt.strftime("%Y-%m-%d"),
        "yhat": rows["yhat"].astype(float), "yhat_lower": rows["yhat_lower"].astype(float), "yhat_upper": rows["yhat_upper"].astype(float),
        "family": rows["model"].fillna(""), "registered_model": rows["registered_model"].fillna(""), "version": rows["model_version"].fillna(""),
        "run_id": rows["run_id"], "promoted_at": created.dt.strftime("%Y-%m-%dT%H:%M:%SZ"), "forecast_source": "forecast table",
    }).reset_index(drop=True)[columns]
