"""An honest split of a path that a family does not decompose itself: STL (Cleveland et al., 1990;
statsmodels) into trend, season and remainder, on the history followed by the forecast."""

from __future__ import annotations

import numpy as np


def stl_split(values: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``trend, season, remainder`` of ``values`` (their sum is ``values``); without a season (period
    below 2 or fewer than two full cycles) everything is trend."""
    values = np.asarray(values, dtype=float)
    if period < 2 or len(values) < 2 * period + 1:
        return values.copy(), np.zeros_like(values), np.zeros_like(values)
    from statsmodels.tsa.seasonal import STL

    fit = STL(values, period=period).fit()
    trend, season = np.asarray(fit.trend, dtype=float), np.asarray(fit.seasonal, dtype=float)
    return trend, season, values - trend - season


def stl_path(history: np.ndarray, path: np.ndarray, period: int) -> dict[str, np.ndarray]:
    """The forecast ``path``'s trend, season and remainder from one STL of history and path together."""
    trend, season, remainder = stl_split(np.concatenate([history, path]), period)
    tail = slice(len(history), None)
    return {"trend": trend[tail], "season": season[tail], "remainder": remainder[tail]}
