"""The aggregate nodes as segments: each one's history is the sum of its validated bottom segments'
histories, period by period, so it is backtested, selected and forecast like any segment.

What the sums do with the data, each reported on the node: a bottom segment that starts later or
stops earlier than its siblings adds zero outside its own range; a period a bottom segment was missing
was filled by validation (its warning says how) and is not scored in the node's backtest either.
Bottom segments must end together: when validation dropped an incomplete last period from some of
them, that period is forecast instead in every segment, so every node forecasts the same dates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.errors import DataError
from forecasting.folds import plan_folds
from forecasting.frequency import calendar, season_length
from forecasting.hierarchy.levels import AGGREGATED, HierarchySpec, parse_levels
from forecasting.hierarchy.structure import Hierarchy, build_hierarchy
from forecasting.validation import PreparedSegment, SegmentReport, ValidationReport


def check_bottom(report: ValidationReport, prepared: dict[str, PreparedSegment], segment_cols: list[str], non_negative: bool) -> None:
    """What a hierarchy cannot be built on, as one line each (:class:`DataError`): a bottom segment
    that failed validation (a total without it would not be the total), a segment value that is the
    aggregated-away marker, negative values when every node must stay >= 0, mixed frequencies."""
    failed = report.failed
    if failed:
        first = report.segments[failed[0]].errors[0].message
        more = f" ({len(failed) - 1} more bottom segment(s) failed too)" if len(failed) > 1 else ""
        raise DataError(f"segment {failed[0]!r}: {first}; a reconciled hierarchy needs every bottom segment, nothing written{more}")
    for key, segment in prepared.items():
        marked = [col for col in segment_cols if str(segment.values[col]) == AGGREGATED]
        if marked:
            raise DataError(f"segment {key!r}: segment column {marked[0]!r} has the value {AGGREGATED!r}, which names an aggregated-away "
                            "column in a hierarchy's node keys; rename that value")
        if non_negative:
            negative = segment.history["y"] < 0
            if negative.any():
                raise DataError(f"segment {key!r}: target has {int(negative.sum())} negative value(s) (min {segment.history['y'].min():,.6g}); "
                                "--non-negative keeps every node of the hierarchy >= 0, which needs non-negative data")
    frequencies = {segment.frequency for segment in prepared.values()}
    if len(frequencies) > 1:
        raise DataError(f"the bottom segments have different frequencies ({', '.join(sorted(frequencies))}); a hierarchy needs one")


def hierarchy_segments(report: ValidationReport, prepared: dict[str, PreparedSegment], spec: HierarchySpec, segment_cols: list[str],
                       horizon: int, folds: int, non_negative: bool = False) -> tuple[Hierarchy, list[tuple[PreparedSegment, SegmentReport]], list[str]]:
    """The hierarchy over the validated bottom segments and every node as a segment to train.

    Returns:
        The hierarchy, the (segment, report) of every node in the hierarchy's order (aggregates first,
        built here; then the bottom segments, aligned to end together), and the bottom segments left
        out because they stopped before the others (discontinued: they add to the aggregates' history).

    Raises:
        DataError: see :func:`check_bottom`; fewer than two bottom segments; or a level, a middle
        level or a method the levels cannot support.
    """
    check_bottom(report, prepared, segment_cols, non_negative)
    if len(prepared) < 2:
        raise DataError(f"a hierarchy needs at least two bottom segments; the data has {len(prepared)}")
    levels = parse_levels(spec.levels, segment_cols)
    reports = {key: report.segments[key].model_copy(deep=True) for key in prepared}
    live, stopped = _align(prepared, reports, horizon, folds)
    hierarchy = build_hierarchy({key: live[key].values for key in live}, levels, segment_cols)
    nodes = []
    for node in hierarchy.aggregates:
        members = [key for key, seg in prepared.items()
                   if all(v == AGGREGATED or str(seg.values[c]) == str(v) for c, v in hierarchy.values[node].items())]
        nodes.append(_aggregate(node, hierarchy, [live.get(k) or prepared[k] for k in members], live, horizon, folds))
    nodes += [(live[key], reports[key]) for key in hierarchy.bottom]
    return hierarchy, nodes, stopped


def _align(prepared: dict[str, PreparedSegment], reports: dict[str, SegmentReport], horizon: int, folds: int):
    """Bottom segments that reach the last period (dropped incomplete periods count as reached) end on
    the same date; the others stopped earlier and are left out of the forecast."""
    freq = next(iter(prepared.values())).frequency
    step = pd.tseries.frequencies.to_offset(freq)

    def reach(segment: PreparedSegment) -> pd.Timestamp:
        return segment.history["ds"].iloc[-1] + step * max(len(segment.future) - horizon, 0)

    end = max(reach(s) for s in prepared.values())
    live = {k: s for k, s in prepared.items() if reach(s) == end}
    stopped = [k for k in prepared if k not in live]
    for key in stopped:
        reports[key].warn("y", "hierarchy", f"stops on {prepared[key].history['ds'].iloc[-1].date()}, before the other segments' last period "
                          f"{end.date()}: discontinued, it adds zero to its aggregates after that and is not forecast")
    common = min(s.history["ds"].iloc[-1] for s in live.values())
    cut = [k for k, s in live.items() if s.history["ds"].iloc[-1] > common]
    if cut:
        dropped_by = [k for k, s in live.items() if s.history["ds"].iloc[-1] == common][:3]
        for key in cut:
            live[key] = _truncate(live[key], common, horizon, folds)
            reports[key].warn("y", "hierarchy", f"periods after {common.date()} are forecast instead, to end with the segments whose incomplete "
                              f"last period was dropped ({', '.join(dropped_by)}): every node of a hierarchy forecasts the same dates")
            reports[key].last, reports[key].folds = str(common.date()), live[key].folds
            reports[key].window, reports[key].low_confidence = live[key].window, live[key].low_confidence
    return live, stopped


def _truncate(segment: PreparedSegment, end: pd.Timestamp, horizon: int, folds: int) -> PreparedSegment:
    keep = segment.history["ds"] <= end
    moved = segment.history[~keep].drop(columns=["y"])
    history = segment.history[keep].reset_index(drop=True)
    future = pd.concat([moved, segment.future], ignore_index=True)[segment.future.columns]
    plan = plan_folds(len(history), horizon, folds, season_length(segment.frequency))
    return PreparedSegment(segment.key, segment.values, history, future, segment.frequency, plan.folds, segment.covariates, plan.window,
                           plan.reason(), [p for p in segment.filled if p < len(history)], segment.fill, segment.winsorize_at)


def _aggregate(node: str, hierarchy: Hierarchy, members: list[PreparedSegment], live: dict, horizon: int, folds: int):
    """One aggregate node's segment: the members' histories summed per period over the union of their
    ranges (zero outside each member's own), up to the live segments' common last date."""
    freq = members[0].frequency
    end = min(s.history["ds"].iloc[-1] for s in live.values())
    dates = calendar(min(m.history["ds"].iloc[0] for m in members), end, freq)
    y = np.zeros(len(dates))
    filled = np.zeros(len(dates), bool)
    for member in members:
        history = member.history[member.history["ds"] <= end]
        at = dates.get_indexer(history["ds"])
        y[at] += history["y"].to_numpy(float)
        filled[at[[p for p in member.filled if p < len(history)]]] = True
    history = pd.DataFrame({"ds": dates, "y": y})
    future = next(iter(live.values())).future[["ds"]].reset_index(drop=True)
    covariates = _shared_covariates(members, history, future)
    for name, (past, ahead) in covariates.items():
        history[name], future[name] = past, ahead
    plan = plan_folds(len(history), horizon, folds, season_length(freq))
    report = SegmentReport(segment=node, rows=sum(len(m.history) for m in members), frequency=freq, first=str(dates[0].date()),
                           last=str(dates[-1].date()), folds=plan.folds, window=plan.window, low_confidence=plan.reason())
    level = hierarchy.level_of[node]
    report.info("y", "hierarchy", f"level {level!r}: the sum of {len(members)} bottom segment(s), period by period")
    late = [m for m in members if m.history["ds"].iloc[0] > dates[0]]
    early = [m for m in members if m.key not in live]
    if late:
        report.info("y", "hierarchy", f"{len(late)} segment(s) start after {dates[0].date()} and add zero before their first period "
                    f"(e.g. {late[0].key} from {late[0].history['ds'].iloc[0].date()})")
    if early:
        report.warn("y", "hierarchy", f"{len(early)} segment(s) stopped before {end.date()} and add zero after their last period "
                    f"(e.g. {early[0].key} until {early[0].history['ds'].iloc[-1].date()})")
    if filled.any():
        report.warn("y", "hierarchy", f"{int(filled.sum())} period(s) include values validation filled in a segment (e.g. "
                    f"{dates[np.flatnonzero(filled)[0]].date()}, see that segment's warning): not scored in the backtest")
    covariate_names = list(covariates)
    dropped = sorted({c for m in members for c in m.covariates} - set(covariate_names))
    if dropped:
        report.info("y", "hierarchy", f"covariate(s) {', '.join(dropped)} differ between the segments it sums: not used for this node")
    first = members[0]
    segment = PreparedSegment(node, {c: (None if v == AGGREGATED else v) for c, v in hierarchy.values[node].items()}, history, future, freq,
                              plan.folds, covariate_names, plan.window, plan.reason(), [int(p) for p in np.flatnonzero(filled)],
                              first.fill, first.winsorize_at)
    return segment, report


def _shared_covariates(members: list[PreparedSegment], history: pd.DataFrame, future: pd.DataFrame) -> dict[str, tuple]:
    """Covariates every member has with the same value on every date (a calendar, a company-wide
    promotion): those describe the aggregate too. Others do not add up and are left out."""
    names = set.intersection(*(set(m.covariates) for m in members)) if members else set()
    out = {}
    for name in sorted(names):
        past = pd.concat([m.history[["ds", name]] for m in members]).groupby("ds")[name]
        ahead = pd.concat([m.future[["ds", name]] for m in members if name in m.future]).groupby("ds")[name]
        if (past.nunique(dropna=False) > 1).any() or (ahead.nunique(dropna=False) > 1).any():
            continue
        past_values = past.first().reindex(history["ds"])
        ahead_values = ahead.first().reindex(future["ds"])
        if past_values.isna().any() or ahead_values.isna().any():
            continue
        out[name] = (past_values.to_numpy(), ahead_values.to_numpy())
    return out
