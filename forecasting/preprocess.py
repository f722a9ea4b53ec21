"""What is done to a series before a model sees it, and the checks that look at a point's neighbours:
filling missing periods, outliers (isolated spikes against trend and season), an incomplete last
period. Each works on the window it is given, so the backtest can apply it to each fold's training
window alone (no look-ahead)."""

from __future__ import annotations

import numpy as np
import pandas as pd

FILL_METHODS = ("interpolate", "zero", "ffill")
# Partial last periods come from extracts taken mid-period: days, weeks, months. At quarterly and
# yearly frequency a far lower last value is as often a real bad period (M3 has such series), so the
# check is not made there; cut a partial year or quarter with --end.
TRAILING_FREQUENCY_PREFIXES = ("D", "B", "W-", "MS", "ME")


def fill_missing(y: pd.Series, how: str) -> pd.Series:
    """Fill missing values with ``how`` (interpolate: linear between neighbours, and the nearest value
    at the edges; zero; ffill: the previous value)."""
    if how == "zero":
        return y.fillna(0.0)
    if how == "ffill":
        return y.ffill().bfill()
    return y.interpolate(method="linear", limit_direction="both")


def _mad(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(1.4826 * np.median(np.abs(x - np.median(x)))) if len(x) else float("nan")


def _transform(y: np.ndarray) -> tuple[np.ndarray, bool]:
    """Log scale for positive series (a spike is a relative jump), the values otherwise."""
    positive = bool((y > 0).all())
    return (np.log(y) if positive else y.astype(float).copy()), positive


def _season_profile(x: np.ndarray, m: int) -> np.ndarray:
    """A robust seasonal profile (median of the detrended values at each position), zero without a
    season or two full cycles."""
    n = len(x)
    if m <= 1 or n < 2 * m:
        return np.zeros(n)
    trend = pd.Series(x).rolling(m if m % 2 else m + 1, center=True, min_periods=1).median().to_numpy()
    detrended = x - trend
    profile = np.array([np.median(detrended[i::m]) for i in range(m)])
    return (profile - profile.mean())[np.arange(n) % m]


def _spikes(x: np.ndarray, lag: int) -> tuple[np.ndarray, float]:
    """Per point: how far it jumps away from BOTH neighbours ``lag`` periods before and after, in the
    same direction, in robust units of the series' ``lag``-period changes. A trend or a level shift
    moves one side only, so it scores 0."""
    n = len(x)
    score = np.zeros(n)
    scale = _mad(x[lag:] - x[:-lag]) if n > lag else float("nan")
    if not np.isfinite(scale) or scale == 0 or n < 2 * lag + 1:
        return score, scale
    left = x[lag:n - lag] - x[: n - 2 * lag]
    right = x[lag:n - lag] - x[2 * lag:]
    same = np.sign(left) == np.sign(right)
    score[lag:n - lag] = np.where(same, np.minimum(np.abs(left), np.abs(right)), 0.0) / scale
    return score, scale


def outlier_scores(y: np.ndarray, season: int) -> np.ndarray:
    """Robust spike scores: isolated jumps against the trend (neighbouring periods, deseasonalized) and,
    with three full seasons, against the same season a cycle before and after. Edges score 0."""
    y = np.asarray(y, dtype=float)
    if len(y) < 5:
        return np.zeros(len(y))
    x, _ = _transform(y)
    score, _ = _spikes(x - _season_profile(x, season), 1)
    if season > 1 and len(y) >= 3 * season:
        seasonal, _ = _spikes(x, season)
        score = np.minimum(score, seasonal)
    return score


def winsorize(y: np.ndarray, season: int, threshold: float) -> tuple[np.ndarray, int]:
    """Clip each point scoring above ``threshold`` to ``threshold`` robust units from its neighbours'
    level (in the same scale the score is measured in). Returns the values and how many were clipped."""
    y = np.asarray(y, dtype=float)
    flagged = np.flatnonzero(outlier_scores(y, season) > threshold)
    if not len(flagged):
        return y, 0
    x, positive = _transform(y)
    profile = _season_profile(x, season)
    adjusted = x - profile
    _, scale = _spikes(adjusted, 1)
    out = adjusted.copy()
    for t in flagged:
        level = (adjusted[t - 1] + adjusted[t + 1]) / 2
        out[t] = np.clip(adjusted[t], level - threshold * scale, level + threshold * scale)
    out = out + profile
    return (np.exp(out) if positive else out), len(flagged)


def trailing_drop(y: np.ndarray, season: int, ratio: float, threshold: float) -> float | None:
    """When the last period looks incomplete, its share of the recent median; else None. Incomplete
    means all of: below ``ratio`` x the median of the last two seasons (three periods without a season),
    and a drop beyond ``threshold`` robust units both from the previous period (deseasonalized) and
    from the same season a cycle before."""
    y = np.asarray(y, dtype=float)
    n = len(y)
    if n < 5:
        return None
    window = y[-(2 * season + 1):-1] if season > 1 else y[-4:-1]
    median = float(np.median(window))
    if not median > 0 or not y[-1] < ratio * median:
        return None
    x, _ = _transform(y)
    adjusted = x - _season_profile(x, season)
    scale = _mad(np.diff(adjusted))
    drops = [(adjusted[-2] - adjusted[-1]) / scale] if np.isfinite(scale) and scale > 0 else []
    if season > 1 and n > 2 * season:
        seasonal_scale = _mad(x[season:] - x[:-season])
        if np.isfinite(seasonal_scale) and seasonal_scale > 0:
            drops.append((x[-1 - season] - x[-1]) / seasonal_scale)
    if not drops or min(drops) <= threshold:
        return None
    return float(y[-1] / median)


def checks_trailing(frequency: str) -> bool:
    return frequency.startswith(TRAILING_FREQUENCY_PREFIXES)


def training_window(history: pd.DataFrame, length: int, filled: list[int], fill: str,
                    winsorize_at: float | None, season: int, covariate_fills: dict[str, tuple[list[int], str]] | None = None) -> pd.DataFrame:
    """The first ``length`` periods as a model fitted at that cutoff sees them: values that validation
    filled (target and covariates) are filled again from this window alone, and outliers are clipped
    against it alone."""
    window = history.iloc[:length].copy()
    if filled:
        missing = [p for p in filled if p < length]
        if missing:
            y = window["y"].copy()
            y.iloc[missing] = np.nan
            window["y"] = fill_missing(y, fill).to_numpy()
    for column, (positions, how) in (covariate_fills or {}).items():
        inside = [p for p in positions if p < length]
        if inside and column in window:
            values = window[column].copy()
            values.iloc[inside] = np.nan
            window[column] = refill_covariate(values, how, values).to_numpy()
    if winsorize_at is not None:
        window["y"], _ = winsorize(window["y"].to_numpy(), season, winsorize_at)
    return window


def fold_test(history: pd.DataFrame, start: int, end: int, covariate_fills: dict[str, tuple[list[int], str]] | None = None) -> pd.DataFrame:
    """Periods ``start``..``end`` of the history as the future of a fold whose training window is the
    first ``start`` periods: a covariate value validation filled there is filled as that window would
    fill its future (zero, its last value or its mean), never from values after the cutoff."""
    test = history.iloc[start:end].copy()
    window = history.iloc[:start]
    for column, (positions, how) in (covariate_fills or {}).items():
        inside = [p - start for p in positions if start <= p < end]
        if not inside or column not in test:
            continue
        past = window[column].copy()
        past.iloc[[p for p in positions if p < start]] = np.nan
        ahead = test[column].copy()
        ahead.iloc[inside] = np.nan
        both = refill_covariate(pd.concat([past, ahead], ignore_index=True), how, past)
        test[column] = both.iloc[len(past):].to_numpy()
    return test


def refill_covariate(values: pd.Series, how: str, past: pd.Series) -> pd.Series:
    """Missing covariate values filled by ``how`` from the given values of ``past`` alone (zero, ffill:
    the previous value, mean, last); a window with no value of its own at all gets zeros."""
    given = past.dropna()
    if how == "zero" or given.empty:
        return values.fillna(0.0)
    if how == "ffill":
        return values.ffill().bfill()
    if how == "mean":
        return values.fillna(float(given.mean()))
    return values.fillna(float(given.iloc[-1]))
