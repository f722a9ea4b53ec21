"""Reshaping a segment on the way in: the training window (``start``/``end``) and aggregation to a
coarser frequency (daily to weeks, months to quarters...), each reported in the segment's findings."""

from __future__ import annotations

import pandas as pd

from forecasting.contract import DataSpec
from forecasting.errors import DataError
from forecasting.frequency import infer_frequency
from forecasting.validation.report import SegmentReport


def training_window(data: pd.DataFrame, spec: DataSpec, report: SegmentReport) -> pd.DataFrame:
    """Rows before ``start`` are dropped; rows after ``end`` keep only their covariates (their target
    is ignored: they are future periods as seen on ``end``)."""
    if not (spec.start or spec.end):
        return data
    out = data
    notes = []
    if spec.start:
        before = out["ds"] < pd.Timestamp(spec.start)
        out = out[~before]
        if before.any():
            notes.append(f"{int(before.sum())} row(s) before {spec.start} ignored")
    if spec.end:
        after = out["ds"] > pd.Timestamp(spec.end)
        if after.any():
            out = out.assign(y=out["y"].where(~after))
            notes.append(f"{int(after.sum())} row(s) after {spec.end} used as future periods (their {spec.target_col!r} ignored)")
    if notes:
        report.info(spec.time_col, "window", f"training window {spec.start or 'first date'} .. {spec.end or 'last date'}: " + "; ".join(notes))
    if out["y"].notna().sum() == 0:
        report.error(spec.target_col, "window", f"no {spec.target_col!r} value between {spec.start or 'the first date'} and {spec.end or 'the last date'}")
    return out


def aggregate(data: pd.DataFrame, spec: DataSpec, report: SegmentReport) -> tuple[pd.DataFrame | None, bool]:
    """Each column summed (or as ``aggregate_how`` says) over the periods of ``spec.aggregate``, labelled
    as pandas labels them (W-MON: the Monday ending each week; MS: the first of the month). A first
    period the data does not cover in full (e.g. a week of 3 days) is dropped; a partial last period
    keeps only its covariates and is forecast instead: its sum would read as a collapse. Future rows
    (after the last target) are aggregated the same way for their covariates. Returns the frame and
    whether the last period was partial (forecast instead)."""
    target = spec.aggregate
    observed = data[data["y"].notna()]
    try:
        source = infer_frequency(observed["ds"].drop_duplicates())
    except DataError as exc:
        report.error(spec.time_col, "aggregate", f"cannot aggregate to {target}: the dates before aggregation are irregular ({exc})")
        return None, False
    how = {"y": spec.how_for(spec.target_col), **{c: spec.how_for(c) for c in spec.covariate_cols}}
    bins = data.set_index("ds")[list(how)].resample(target)
    # min_count=1: a period with no value at all stays missing instead of summing to 0
    out = pd.DataFrame({col: (bins[col].sum(min_count=1) if rule == "sum" else getattr(bins[col], rule)()) for col, rule in how.items()})
    out["_row"] = data.set_index("ds")["_row"].resample(target).first()
    counts = observed.set_index("ds")["y"].resample(target).count()
    step = pd.tseries.frequencies.to_offset(target)
    full = pd.Series(1, index=pd.date_range(observed["ds"].min() - step, observed["ds"].max() + step, freq=source))
    expected = full.resample(target).count().reindex(counts.index)
    partial = counts < expected
    first, last = counts.index[0], counts.index[-1]
    notes = []
    if partial[first] and len(counts) > 1:
        out = out.drop(index=first)
        notes.append(f"first period {first.date()} has {int(counts[first])} of {int(expected[first])} {source} values: dropped")
    if partial[last]:
        out.loc[last, "y"] = float("nan")
        notes.append(f"last period {last.date()} has {int(counts[last])} of {int(expected[last])} {source} values: forecast instead")
    if notes:
        report.warn(spec.target_col, "aggregate", "partial period(s) after aggregating to " + f"{target}: " + "; ".join(notes))
    interior = partial.iloc[1:-1]
    if interior.any():
        report.warn(spec.target_col, "aggregate", f"{int(interior.sum())} period(s) aggregate fewer {source} values than the calendar has "
                    f"(e.g. {interior[interior].index[0].date()}): the missing {source} values count as nothing")
    rules = ", ".join(f"{spec.target_col if col == 'y' else col}={rule}" for col, rule in how.items())
    report.info(spec.time_col, "aggregate", f"aggregated from {source} to {target} ({rules}): {len(observed)} rows into {len(out)} periods")
    return out.reset_index(), bool(partial[last])
