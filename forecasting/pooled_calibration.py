"""Interval calibration pooled across segments (issue 27, item 4): a stage between the segments'
backtests and their selection.

A segment's own backtest holds a few dozen standardized errors per candidate, fewer for the later
steps; the other segments of the run with the same frequency and a similar history length
(:func:`forecasting.intervals.length_bucket`) hold many more, in the same units (each error over its
own family's sigma). ``ModelSpec.calibration`` says which: ``own`` (the segment's errors only),
``pooled`` or ``shrunk`` (:func:`forecasting.intervals.mixed_calibration`). A pool needs at least two
other segments; otherwise the segment keeps its own calibration, so a one-segment run is unchanged.
Only bounds change: no point forecast and no choice depends on the calibration.
"""

from __future__ import annotations

from forecasting.intervals import length_bucket, standardized_errors

MIN_OTHER_SEGMENTS = 2


def attach_pools(pairs: list, mix: str, level: float) -> int:
    """Give every segment's backtest the pooled errors of the other segments, per candidate, for the
    refit's calibration (``SegmentBacktest.pooled``). ``pairs``: (validated segment, its backtest).
    Returns how many segments got a pool."""
    if mix == "own":
        return 0
    pools: dict[tuple, list[tuple[str, list]]] = {}
    for segment, backtest in pairs:
        for name, candidate in backtest.candidates.items():
            points = standardized_errors(candidate.forecasts, level)
            if points:
                pools.setdefault((segment.frequency, length_bucket(len(segment.history)), name), []).append((segment.key, points))
    given = 0
    for segment, backtest in pairs:
        pooled = {}
        for name in backtest.candidates:
            others = [points for key, points in pools.get((segment.frequency, length_bucket(len(segment.history)), name), []) if key != segment.key]
            if len(others) >= MIN_OTHER_SEGMENTS:
                pooled[name] = [p for points in others for p in points]
        backtest.pooled, backtest.calibration_mix = pooled, mix
        given += bool(pooled)
    return given
