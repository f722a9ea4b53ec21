"""Interval calibration pooled across segments (issue 27, item 4): a stage after the segments' backtests.

A segment's own backtest holds a few dozen standardized errors per candidate, fewer for the later
steps; the other segments of the run with the same frequency and a similar history length
(:func:`forecasting.intervals.length_bucket`) hold many more, in the same units (each error over its
own family's sigma). ``ModelSpec.calibration`` says which: ``own`` (the segment's errors only, as
before), ``pooled`` or ``shrunk`` (:func:`forecasting.intervals.mixed_calibration`). A pool needs at
least two other segments; otherwise the segment keeps its own calibration, so a one-segment run is
unchanged. Only bounds change: no point forecast and no choice depends on the calibration.
"""

from __future__ import annotations

import pandas as pd

from forecasting.intervals import length_bucket, mixed_calibration, standardized_errors

MIN_OTHER_SEGMENTS = 2


def _pool_key(segment, name: str) -> tuple:
    return segment.frequency, length_bucket(len(segment.history)), name


def recalibrate(outcomes: list, prepared: dict, mix: str, level: float) -> int:
    """Calibrate every trained segment's champion and candidates with ``mix`` from the pooled backtest
    errors of the other segments, and forecast their bounds again. ``outcomes``: the run's trained
    :class:`forecasting.pipeline.SegmentOutcome`; ``prepared``: the validated segments by key.
    Returns how many segments were recalibrated from a pool."""
    if mix == "own":
        return 0
    pools: dict[tuple, list[tuple[str, list]]] = {}
    own: dict[tuple[str, str], list] = {}
    for outcome in outcomes:
        segment = prepared[outcome.segment]
        for name, candidate in outcome.backtest.candidates.items():
            points = standardized_errors(candidate.forecasts, level)
            own[(outcome.segment, name)] = points
            if points:
                pools.setdefault(_pool_key(segment, name), []).append((outcome.segment, points))
    changed = 0
    for outcome in outcomes:
        segment, selection = prepared[outcome.segment], outcome.selection
        models = {selection.champion: selection.champion_model, **selection.candidate_models}
        touched = False
        for name, model in models.items():
            others = [points for key, points in pools.get(_pool_key(segment, name), []) if key != outcome.segment]
            if len(others) < MIN_OTHER_SEGMENTS:
                continue
            mine = own.get((outcome.segment, name), [])
            pool = [p for points in others for p in points] + mine
            model.calibrate(mixed_calibration(mine, pool, level, len(segment.future), len(segment.history), mix))
            touched = True
        if not touched:
            continue
        changed += 1
        dates = pd.DatetimeIndex(segment.future["ds"])
        selection.forecast = selection.champion_model.forecast(dates, segment.future)
        for name in list(selection.candidate_forecasts):
            selection.candidate_forecasts[name] = selection.candidate_models[name].forecast(dates, segment.future)
        if selection.runner_up in selection.candidate_forecasts:
            selection.runner_up_forecast = selection.candidate_forecasts[selection.runner_up]
    return changed
