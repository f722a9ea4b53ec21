"""What the statsforecast-backed families (ETS, ARIMA, Theta, CES) share: the season they may use and
turning a fitted statsforecast model's prediction into a :class:`PathForecast`."""

from __future__ import annotations

import warnings

import numpy as np

from forecasting.errors import ModelFitError
from forecasting.models.base import MAX_SEASON, PathForecast

# statsforecast's optimizer notes ("possible convergence problem") are not errors: a fit that fails
# raises. catch_warnings below is not thread-safe (threads task runner, thread pools), so the notes
# are also filtered by module, once.
warnings.filterwarnings("ignore", category=UserWarning, module=r"statsforecast(\.|$)")

# Seasonal state grows with the period: above MAX_SEASON (weekly data, 52) these families fit without a
# season of their own, after the yearly season was removed as Fourier terms (Forecaster.removes_long_season).


def usable_season(season_length: int, n: int, cycles: int = 2) -> int:
    """The season to fit with: the context's when it is short enough and the history holds enough
    full cycles to estimate it, else 1 (no season)."""
    m = season_length
    return m if 1 < m <= MAX_SEASON and n >= cycles * m + 2 else 1


def fit_quietly(name: str, model, y: np.ndarray, X: np.ndarray | None = None):
    """Fit a statsforecast model; any failure is a :class:`ModelFitError` naming the family."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return model.fit(np.ascontiguousarray(y, dtype=float), X)
    except Exception as exc:
        raise ModelFitError(f"{name}: {type(exc).__name__}: {exc}") from exc


def predict_path(model, steps: int, level: float, X: np.ndarray | None = None) -> PathForecast:
    """Point forecast and the ``level`` interval for steps 1..``steps``."""
    pct = round(100 * level, 6)
    pct = int(pct) if float(pct).is_integer() else pct
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = model.predict(steps, X=X, level=[pct])
    as_array = lambda key: np.asarray(out[key], dtype=float)  # noqa: E731 - pandas Series or ndarray
    return PathForecast(as_array("mean"), as_array(f"lo-{pct}"), as_array(f"hi-{pct}"))
