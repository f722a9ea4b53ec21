"""Reshaping a segment on the way in: the training window (``start``/``end``) and aggregation to a
coarser frequency (daily to weeks, months to quarters...), each reported in the segment's findings and
its row accounting."""

from __future__ import annotations

import pandas as pd

from forecasting.contract import DataSpec
from forecasting.errors import DataError
from forecasting.frequency import infer_frequency
from forecasting.validation.accounting import Ledger
from forecasting.validation.business_days import business_days
from forecasting.validation.report import SegmentReport


def training_window(data: pd.DataFrame, spec: DataSpec, report: SegmentReport, ledger: Ledger) -> pd.DataFrame:
    """Rows before ``start`` are dropped; rows after ``end`` keep only their covariates (their target
    is ignored: they are future periods as seen on ``end``)."""
    if not (spec.start or spec.end):
        return data
    out = data
    notes = []
    if spec.start:
        before = out["ds"] < pd.Timestamp(spec.start)
        if before.any():
            ledger.drop("before_start", out.loc[before, "_row"], f"before --start {spec.start}")
            notes.append(f"{int(before.sum())} row(s) before {spec.start} ignored")
        out = out[~before]
    if spec.end:
        after = out["ds"] > pd.Timestamp(spec.end)
        if after.any():
            discarded = after & out["y"].notna()
            ledger.change(spec.target_col, "discarded", int(discarded.sum()), f"after --end {spec.end}: used as future periods",
                          out.loc[discarded, "ds"])
            out = out.assign(y=out["y"].where(~after))
            notes.append(f"{int(after.sum())} row(s) after {spec.end} used as future periods (their {spec.target_col!r} ignored)")
    if notes:
        report.info(spec.time_col, "window", f"training window {spec.start or 'first date'} .. {spec.end or 'last date'}: " + "; ".join(notes))
    if out["y"].notna().sum() == 0:
        report.error(spec.target_col, "window", f"no {spec.target_col!r} value between {spec.start or 'the first date'} and {spec.end or 'the last date'}")
    return out


def aggregate(data: pd.DataFrame, spec: DataSpec, report: SegmentReport, ledger: Ledger,
              closed: pd.DatetimeIndex | None = None) -> tuple[pd.DataFrame | None, bool]:
    """Each column summed (or as ``aggregate_how`` says) over the periods of ``spec.aggregate``, labelled
    as pandas labels them (W-MON: the Monday ending each week; MS: the first of the month). A first
    period the data does not cover in full (e.g. a week of 3 days) is dropped; a partial last period
    keeps only its covariates and is forecast instead: its sum would read as a collapse. Future rows
    (after the last target) are aggregated the same way for their covariates. For business-day data a
    period is complete when it has every business day of the data's own calendar (``closed``: the
    days it is closed, see :mod:`forecasting.validation.business_days`). Returns the frame and whether
    the last period was partial (forecast instead)."""
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
    members = data.groupby(pd.Grouper(key="ds", freq=target))["_row"].apply(list)
    out["_row"] = members.map(lambda rows: rows[0] if rows else float("nan")).reindex(out.index)
    for rows in members:
        if rows:
            ledger.group(rows[0], rows)
    counts = observed.set_index("ds")["y"].resample(target).count()
    expected = _expected_counts(observed["ds"], source, target, closed).reindex(counts.index)
    partial = counts < expected
    first, last = counts.index[0], counts.index[-1]
    notes = []
    if partial[first] and len(counts) > 1:
        ledger.drop("partial_first_period", [out.loc[first, "_row"]], f"first {target} period {first.date()} not covered in full")
        out = out.drop(index=first)
        notes.append(f"first period {first.date()} has {int(counts[first])} of {int(expected[first])} {_unit(source, closed)} values: dropped")
    if partial[last]:
        out.loc[last, "y"] = float("nan")
        ledger.change(spec.target_col, "discarded", 1, f"partial last {target} period ({int(counts[last])} of {int(expected[last])} "
                      f"{_unit(source, closed)} values): forecast instead", [last])
        notes.append(f"last period {last.date()} has {int(counts[last])} of {int(expected[last])} {_unit(source, closed)} values: forecast instead")
    if notes:
        report.warn(spec.target_col, "aggregate", "partial period(s) after aggregating to " + f"{target}: " + "; ".join(notes))
    interior = partial.iloc[1:-1]
    if interior.any():
        report.warn(spec.target_col, "aggregate", f"{int(interior.sum())} period(s) aggregate fewer {_unit(source, closed)} values than the "
                    f"calendar has (e.g. {interior[interior].index[0].date()}): the missing {source} values count as nothing")
    rules = ", ".join(f"{spec.target_col if col == 'y' else col}={rule}" for col, rule in how.items())
    ledger.change(spec.target_col, "aggregated", len(observed), f"{len(observed)} {source} values into {int(out['y'].notna().sum())} {target} "
                  f"periods ({rules})")
    report.info(spec.time_col, "aggregate", f"aggregated from {source} to {target} ({rules}): {len(observed)} rows into {len(out)} periods")
    return out.reset_index(), bool(partial[last])


def _expected_counts(dates: pd.Series, source: str, target: str, closed: pd.DatetimeIndex | None) -> pd.Series:
    """How many ``source`` dates each ``target`` period has on the calendar: business days of the data's
    own calendar for business-day data, every date of the frequency otherwise."""
    step = pd.tseries.frequencies.to_offset(target)
    start, end = dates.min() - step, dates.max() + step
    if source == "B" and closed is not None:
        full = business_days(start, end, closed)
    else:
        full = pd.date_range(start, end, freq=source)
    return pd.Series(1, index=full).resample(target).count()


def _unit(source: str, closed: pd.DatetimeIndex | None) -> str:
    return "business-day" if source == "B" and closed is not None else source
