"""Prediction intervals calibrated on the backtest's out-of-sample errors, step by step.

A family's own interval gives the shape (how uncertainty grows with the step); the backtest says how
wide it must really be. Each fold's error at step h is measured in units of the family's own standard
error at that step (``u = |actual - forecast| / sigma_h``, with ``sigma_h`` read off its interval). For
the final model, the half-width at step h is ``k_h x sigma_h``, where ``k_h`` is the ``level`` quantile
of the ``u`` of the steps nearest h (at least half of all the points, and at least 8), widened for few
points by Student's t: ``t(level, n/2) / z(level) x sqrt(1 + 2/n)`` (errors of one fold are correlated,
so n points count as n/2). Without any backtest, the family's own interval is widened by
``t(level, n_history - 1) / z(level)``.

Chosen on the Tourism competition set and checked on M3 (docs/models-and-selection.md, "Intervals").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

MIN_POINTS = 8


def z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


@dataclass
class IntervalCalibration:
    """How much wider (or narrower) than the family's own interval to make each step's interval."""

    level: float
    scale: list[float]  # k_h / z(level) for steps 1..len; later steps use the last
    points: int  # out-of-sample errors it rests on

    def factor(self, steps: int) -> np.ndarray:
        scale = np.asarray(self.scale, dtype=float)
        if not len(scale):
            return np.ones(steps)
        return np.concatenate([scale, np.full(max(steps - len(scale), 0), scale[-1])])[:steps]


def standardized_errors(folds: list, level: float) -> list[tuple[int, float]]:
    """(step, |error| / sigma) over the backtest folds of one candidate. ``folds`` are its fold frames
    (``y``, ``yhat``, ``yhat_lower``, ``yhat_upper``, ``observed``) with the family's own interval at
    ``level``; steps whose interval has no width are left out."""
    zl = z(level)
    out = []
    for frame in folds:
        observed = frame["observed"].to_numpy() if "observed" in frame else np.ones(len(frame), bool)
        error = np.abs(frame["y"].to_numpy(float) - frame["yhat"].to_numpy(float))
        sigma = (frame["yhat_upper"].to_numpy(float) - frame["yhat_lower"].to_numpy(float)) / (2 * zl)
        for step, (e, s, seen) in enumerate(zip(error, sigma, observed), start=1):
            if seen and s > 0 and np.isfinite(e) and np.isfinite(s):
                out.append((step, float(e / s)))
    return out


def calibrate(points: list[tuple[int, float]], level: float, horizon: int, history_length: int) -> IntervalCalibration:
    """The calibration for steps 1..horizon from standardized backtest errors (see the module docstring)."""
    zl = z(level)
    if not points:  # no backtest: the family's own interval, widened for a short history
        df = max(history_length - 1, 1)
        return IntervalCalibration(level, [float(stats.t.ppf(0.5 + level / 2, df) / zl)], 0)
    steps = np.array([p[0] for p in points])
    values = np.array([p[1] for p in points])
    need = max(MIN_POINTS, len(points) / 2)
    scale = []
    for h in range(1, horizon + 1):
        reach = 0
        while True:
            near = np.abs(steps - h) <= reach
            if near.sum() >= min(need, len(points)):
                break
            reach += 1
        u = values[near]
        effective = max(len(u) / 2, 1.0)
        widen = stats.t.ppf(0.5 + level / 2, effective) / zl * np.sqrt(1 + 1 / effective)
        scale.append(float(np.quantile(u, level) * widen / zl))
    return IntervalCalibration(level, scale, len(points))


def apply(yhat: np.ndarray, lower: np.ndarray, upper: np.ndarray, calibration: IntervalCalibration | None,
          steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The calibrated bounds: each side's distance from ``yhat`` scaled by the factor of its step ahead
    (``steps``: 1 = the first period after the history)."""
    if calibration is None:
        return lower, upper
    steps = np.asarray(steps, dtype=int)
    factor = calibration.factor(int(steps.max()))[steps - 1]
    return yhat - (yhat - lower) * factor, yhat + (upper - yhat) * factor


def out_of_sample_coverage(folds: list, level: float, train_lengths: list[int]) -> float | None:
    """Share of backtest actuals inside the interval a user would have received at each fold: fold k's
    own interval calibrated on folds 1..k-1 only (fold 1: the no-backtest widening for its training
    length), as the refit calibrates on every fold. None without a fold. ``folds``: a candidate's fold
    frames (``y``, ``yhat``, ``yhat_lower``, ``yhat_upper``, ``observed``)."""
    hits = []
    for k, frame in enumerate(folds):
        length = train_lengths[k] if k < len(train_lengths) else 2
        calibration = calibrate(standardized_errors(folds[:k], level), level, len(frame), length)
        y, yhat = frame["y"].to_numpy(float), frame["yhat"].to_numpy(float)
        lower, upper = apply(yhat, frame["yhat_lower"].to_numpy(float), frame["yhat_upper"].to_numpy(float), calibration,
                             np.arange(1, len(frame) + 1))
        seen = frame["observed"].to_numpy(bool) if "observed" in frame else np.ones(len(frame), bool)
        hits.extend(((y >= lower) & (y <= upper))[seen & np.isfinite(y)])
    return float(np.mean(hits)) if hits else None


# --- pooled across segments (issue 27) ----------------------------------------------------------------
CALIBRATION_MIXES = ("own", "pooled", "shrunk")
SHRINK_POINTS = 40  # own points that weigh as much as the pool in the shrunk mix


def length_bucket(history_length: int) -> int:
    """Segments of similar history length share a pool: lengths within the same power of two."""
    return int(np.floor(np.log2(max(history_length, 1))))


def pooled_scale(points: list[tuple[int, float]], level: float, horizon: int) -> list[float]:
    """k_h / z(level) per step from many segments' standardized errors: the ``level`` quantile of the
    ``u`` at step h (nearest steps when h has fewer than MIN_POINTS x 4), no small-sample widening."""
    zl = z(level)
    steps = np.array([p[0] for p in points])
    values = np.array([p[1] for p in points])
    scale = []
    for h in range(1, horizon + 1):
        reach = 0
        while (np.abs(steps - h) <= reach).sum() < min(4 * MIN_POINTS, len(points)):
            reach += 1
        scale.append(float(np.quantile(values[np.abs(steps - h) <= reach], level) / zl))
    return scale


def mixed_calibration(own: list[tuple[int, float]], pool: list[tuple[int, float]], level: float, horizon: int,
                      history_length: int, mix: str = "shrunk") -> IntervalCalibration:
    """The calibration from the segment's own backtest errors (``own``), from those of every segment of
    the same frequency and similar history length (``pool``, its own included), or a mix shrunk towards
    the pool: ``w x own + (1 - w) x pooled`` with ``w = n_own / (n_own + SHRINK_POINTS)``."""
    scale = pooled_scale(pool, level, horizon) if len(pool) >= 4 * MIN_POINTS else []
    return mixed_from_scale(own, scale, len(pool), level, horizon, history_length, mix)


def mixed_from_scale(own: list[tuple[int, float]], pooled: list[float], pool_points: int, level: float, horizon: int,
                     history_length: int, mix: str = "shrunk") -> IntervalCalibration:
    """:func:`mixed_calibration` with the pool's per-step scale already computed (once per pool: every
    segment of a pool shares it, so a run of N segments never holds N copies of the others' errors)."""
    mine = calibrate(own, level, horizon, history_length)
    if mix == "own" or pool_points < 4 * MIN_POINTS or not pooled:
        return mine
    pooled = (list(pooled) + [pooled[-1]] * max(horizon - len(pooled), 0))[:horizon]
    if mix == "pooled" or not own:
        return IntervalCalibration(level, pooled, pool_points)
    w = len(own) / (len(own) + SHRINK_POINTS)
    return IntervalCalibration(level, [w * a + (1 - w) * b for a, b in zip(mine.factor(horizon), pooled)], len(own) + pool_points)
