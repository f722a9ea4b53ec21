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

from forecasting.intervals import MIN_POINTS, length_bucket, pooled_scale, standardized_errors

MIN_OTHER_SEGMENTS = 2


def attach_pools(pairs: list, mix: str, level: float) -> int:
    """Give every segment's backtest its pool's per-step scale, per candidate, for the refit's
    calibration (``SegmentBacktest.pooled``: {candidate: {"scale": [...], "points": n}}). The pool is
    every segment of the same frequency and similar history length (the segment's own errors
    included, as the calibration always counted them), computed once per pool. ``pairs``: (validated
    segment, its backtest). Returns how many segments got a pool."""
    if mix == "own":
        return 0
    pools: dict[tuple, list[tuple[str, list]]] = {}
    horizon = max((len(segment.future) for segment, _ in pairs), default=1)
    for segment, backtest in pairs:
        for name, candidate in backtest.candidates.items():
            points = standardized_errors(candidate.forecasts, level)
            if points:
                pools.setdefault(_pool_key(segment, name), []).append((segment.key, points))
    scales = {key: {"scale": pooled_scale(pts, level, horizon) if len(pts) >= 4 * MIN_POINTS else [], "points": len(pts)}
              for key, members in pools.items() if len(members) > MIN_OTHER_SEGMENTS
              for pts in [[p for _, points in members for p in points]]}
    given = 0
    for segment, backtest in pairs:
        pooled = {}
        for name in backtest.candidates:
            members = pools.get(_pool_key(segment, name), [])
            # a pool needs MIN_OTHER_SEGMENTS segments besides this one that have errors for the candidate
            if sum(key != segment.key for key, _ in members) >= MIN_OTHER_SEGMENTS and _pool_key(segment, name) in scales:
                pooled[name] = scales[_pool_key(segment, name)]
        backtest.pooled, backtest.calibration_mix = pooled, mix
        given += bool(pooled)
    return given


def _pool_key(segment, name: str) -> tuple:
    return segment.frequency, length_bucket(len(segment.history)), name
