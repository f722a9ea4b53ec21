"""A bridge for finance: the same periods last year (actual) -> each component's change -> the forecast,
over the horizon's total; and what it is built from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.amounts import amount
from forecasting.explain.components import ORDER, PREFIX, TAIL

START, END = "last year (actual)", "forecast"


@dataclass
class Bridge:
    """The horizon's total a year earlier, each component's change, and the forecast's total."""

    table: pd.DataFrame  # step, value, kind ("total" or "change"): the first total plus the changes is the last
    periods: int  # horizon periods the bridge covers (their year-earlier period is observed)
    horizon: int  # horizon periods in all
    first: str = ""  # the covered forecast periods
    last: str = ""
    note: str = ""  # which periods are left out and why (empty when the whole horizon is covered)

    @property
    def available(self) -> bool:
        return self.periods > 0

    @property
    def window(self) -> str:
        """The forecast periods covered, in words (a chart's subtitle)."""
        return f"{self.first} .. {self.last} ({self.periods} of {self.horizon} period(s)) vs the same periods a year earlier"

    def as_record(self) -> dict:
        """Plain values (a task result, a report): the steps as records and the window."""
        return {"steps": self.table.to_dict("records"), "periods": self.periods, "horizon": self.horizon, "first": self.first,
                "last": self.last, "note": self.note}

    @classmethod
    def from_record(cls, record: dict) -> "Bridge":
        table = pd.DataFrame(record["steps"], columns=["step", "value", "kind"])
        return cls(table, record["periods"], record["horizon"], record.get("first", ""), record.get("last", ""), record.get("note", ""))


def year_earlier(dates: pd.DatetimeIndex, frequency: str) -> pd.DatetimeIndex:
    """The same periods one year earlier: 52 weeks for days, business days and weeks (the same
    weekdays, so the totals hold the same mix of weekdays), 12 months, 4 quarters or 1 year otherwise."""
    dates = pd.DatetimeIndex(dates)
    if frequency == "D":
        return dates - pd.Timedelta(days=364)
    if frequency == "B":
        return dates.shift(-260, freq="B")
    if frequency.startswith("W-"):
        return dates - pd.Timedelta(weeks=52)
    from forecasting.frequency import periods_per_year

    return dates.shift(-int(round(periods_per_year(frequency))), freq=frequency)


def bridge(forecast: pd.DataFrame, actuals: pd.DataFrame, frequency: str) -> Bridge:
    """The bridge from the same periods last year to the forecast, on the horizon's total.

    Args:
        forecast: the forecast's components (``ds`` and ``component_*`` columns adding up to yhat).
        actuals: the history's actuals in components (``ds``, ``y`` and ``component_*`` columns adding up
            to ``y``; :func:`forecasting.explain.history.history_components`).
        frequency: the segment's frequency (what "a year earlier" means).

    Returns:
        :class:`Bridge` over the horizon periods whose period a year earlier is in ``actuals``; the
        others (a history shorter than a year before them, or a horizon longer than a year) are left
        out and named in ``note``; no period at all gives an empty table.
    """
    dates = pd.DatetimeIndex(forecast["ds"])
    earlier = year_earlier(dates, frequency)
    observed = actuals.assign(ds=pd.DatetimeIndex(actuals["ds"])).set_index("ds")
    covered = earlier.isin(observed.index)
    horizon, periods = len(dates), int(covered.sum())
    note = "" if periods == horizon else _left_out(earlier[~covered], observed.index, horizon)
    if periods == 0:
        return Bridge(pd.DataFrame(columns=["step", "value", "kind"]), 0, horizon, note=note)
    now = forecast[covered]
    then = observed.loc[earlier[covered]]
    found = list(dict.fromkeys([*[c for c in now.columns if c.startswith(PREFIX)], *[c for c in then.columns if c.startswith(PREFIX)]]))
    first = [PREFIX + name for name in ORDER]
    last = [PREFIX + name for name in TAIL]
    columns = [c for c in first if c in found] + [c for c in found if c not in first + last] + [c for c in last if c in found]
    total = lambda frame, column: float(frame[column].sum()) if column in frame else 0.0  # noqa: E731
    rows = [(START, float(then["y"].sum()), "total")]
    scale = 1e-9 * max(abs(float(then["y"].sum())), 1.0)
    for column in columns:
        if max(_size(now, column), _size(then, column)) <= scale:
            continue  # zero on both sides (no clipping, no holiday in either year): not a step of the bridge
        rows.append((column.removeprefix(PREFIX), total(now, column) - total(then, column), "change"))
    rows.append((END, float(now[[c for c in columns if c in now]].to_numpy(float).sum()), "total"))
    table = pd.DataFrame(rows, columns=["step", "value", "kind"])
    first, last = dates[covered].min(), dates[covered].max()
    return Bridge(table, periods, horizon, str(first.date()), str(last.date()), note)


def summed(bridges: list[Bridge]) -> Bridge:
    """The bridge of the segments' sum: each step (and both totals) summed over ``bridges``, which must
    cover the same forecast periods; a step missing from a bridge counts 0 there."""
    if not bridges or any(not b.available for b in bridges):
        raise ValueError("only available bridges can be summed")
    windows = {(b.first, b.last, b.periods) for b in bridges}
    if len(windows) > 1:
        raise ValueError(f"the bridges cover different periods: {sorted(windows)[:3]}")
    changes: dict[str, float] = {}
    for b in bridges:
        for step, value, kind in b.table.itertuples(index=False):
            if kind == "change":
                changes[step] = changes.get(step, 0.0) + float(value)
    first, last = [n for n in ORDER if n in changes], [n for n in TAIL if n in changes]
    steps = first + [n for n in changes if n not in first + last] + last
    start = sum(float(b.table["value"].iloc[0]) for b in bridges)
    end = sum(float(b.table["value"].iloc[-1]) for b in bridges)
    rows = [(START, start, "total"), *[(n, changes[n], "change") for n in steps], (END, end, "total")]
    b, notes = bridges[0], {x.note for x in bridges}
    return Bridge(pd.DataFrame(rows, columns=["step", "value", "kind"]), b.periods, b.horizon, b.first, b.last, b.note if len(notes) == 1 else "")


def _left_out(earlier: pd.DatetimeIndex, observed: pd.DatetimeIndex, horizon: int) -> str:
    """Which forecast periods the bridge leaves out, and why (a short history, a horizon over a year)."""
    reasons = []
    before, after = int((earlier < observed.min()).sum()), int((earlier > observed.max()).sum())
    if before:
        reasons.append(f"{before} before the history starts on {observed.min().date()}")
    if after:
        reasons.append(f"{after} beyond a year ahead: their period a year earlier is forecast, not actual")
    if len(earlier) - before - after:
        reasons.append(f"{len(earlier) - before - after} missing from the history")
    return f"{len(earlier)} of {horizon} forecast period(s) have no actual a year earlier ({'; '.join(reasons)}) and are left out of the bridge"


def _size(frame: pd.DataFrame, column: str) -> float:
    return float(frame[column].abs().sum()) if column in frame else 0.0


def bridge_lines(segment: str, result: Bridge, width: int = 12) -> list[str]:
    """The bridge as a few lines of text (the CLI, the README)."""
    if not result.available:
        return [f"{segment}: no bridge ({result.note})"]
    lines = [f"{segment}: {result.first} .. {result.last} ({result.periods} period(s)) vs the same periods a year earlier"]
    for step, value, kind in result.table.itertuples(index=False):
        lines.append(f"  {step:22s} {amount(value):>{width}}" if kind == "total" else f"  {'+ ' + step:22s} {amount(value, sign=True):>{width}}")
    if result.note:
        lines.append(f"  note: {result.note}")
    return lines


def closes(result: Bridge) -> bool:
    """The first total plus every change is the last total (within float rounding)."""
    values = result.table["value"].to_numpy(float)
    return bool(np.isclose(values[0] + values[1:-1].sum(), values[-1], rtol=1e-9, atol=1e-9))
