"""Each family's forecast path on its model scale (after the log transform and a removed long season),
split into additive parts: taken from the model where it has them, an STL of history + forecast where
it has none. Every function returns ``(parts, path, decomposition)``: the parts add up to ``path``, the
family's own point path, and ``decomposition`` says how they were obtained."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from forecasting.explain.contributions import grouped_contributions, xgboost_contributions
from forecasting.explain.decompose import stl_path, stl_split
from forecasting.models.statsforecast_adapter import usable_season

Parts = dict[str, np.ndarray]


def _own_path(model, steps, exog) -> np.ndarray:
    return np.asarray(model._path(steps, exog).yhat, dtype=float)


def stl_period(model, n: int) -> int:
    """The season STL splits with: the segment's, when the history holds two full cycles of it and the
    family models it itself (not removed as Fourier terms first)."""
    return usable_season(model.context.season_length, n)


def naive(model, z, steps, exog, hist_cov):
    return {"trend": _own_path(model, steps, exog)}, _own_path(model, steps, exog), "naive: the last value (level)"


def mean(model, z, steps, exog, hist_cov):
    path = _own_path(model, steps, exog)
    return {"trend": path.copy()}, path, "mean: the historical mean (level)"


def drift(model, z, steps, exog, hist_cov):
    path = _own_path(model, steps, exog)
    return {"trend": path.copy()}, path, "drift: the last value plus the average change per period (level and trend)"


def seasonal_naive(model, z, steps, exog, hist_cov):
    path = _own_path(model, steps, exog)
    level = float(np.mean(model._season))
    return ({"trend": np.full(steps, level), "season": path - level}, path,
            "seasonal_naive: the last season's values; trend = their mean, season = each value's difference from it")


def ets(model, z, steps, exog, hist_cov):
    """Level and trend from ETS's last state projected without its seasonal states; season = the rest."""
    from statsforecast.ets import etsforecast, switch

    fitted = model._model.model_
    path = _own_path(model, steps, exog)
    error, trend_type, season_type, damped = fitted["components"][:4]
    if season_type == "N":
        return {"trend": path.copy()}, path, f"ets {fitted['method']}: level and trend states (no season)"
    phi = 1.0 if damped == "N" else float(fitted["par"][3])
    trend = np.full(steps, np.nan)
    etsforecast(x=np.asarray(fitted["states"][-1, :], dtype=float), m=int(fitted["m"]), trend=switch(trend_type),
                season=switch("N"), phi=phi, h=steps, f=trend)
    how = "level and trend x (seasonal index - 1)" if season_type == "M" else "the seasonal states"
    return ({"trend": trend, "season": path - trend}, path,
            f"ets {fitted['method']}: level and trend states projected (trend); season = {how}")


def theta(model, z, steps, exog, hist_cov):
    """Theta forecasts the deseasonalized series (its trend) and puts the classical seasonal indices back."""
    from statsforecast.utils import _repeat_val_seas

    fitted = model._model.model_
    path = _own_path(model, steps, exog)
    if not fitted.get("decompose", False):
        return {"trend": path.copy()}, path, "theta: the theta lines (level and trend); its seasonality test found no season"
    seasonal = _repeat_val_seas(np.asarray(fitted["seas_forecast"]["mean"], dtype=float), h=steps)
    multiplicative = fitted["decomposition_type"] == "multiplicative"
    trend = path / seasonal if multiplicative else path - seasonal
    return ({"trend": trend, "season": path - trend}, path,
            f"theta: the theta lines on the deseasonalized series (trend) and the {fitted['decomposition_type']} seasonal indices (season)")


def arima(model, z, steps, exog, hist_cov):
    """Regression with ARIMA errors: each covariate's effect is its coefficient times its values; the
    ARIMA part has no components, so it is split by STL of history + forecast."""
    path = _own_path(model, steps, exog)
    coef = model._model.model_["coef"]
    parts, hist_rest, rest = {}, np.asarray(z, dtype=float).copy(), path.copy()
    names = list(model.context.covariates) if exog is not None else []
    for i, name in enumerate(names):
        beta = float(coef.get(f"ex_{i + 1}", 0.0))
        parts[name] = beta * exog.iloc[:, i].to_numpy(dtype=float)
        rest = rest - parts[name]
        if hist_cov is not None:
            hist_rest = hist_rest - beta * hist_cov[name].to_numpy(dtype=float)
    parts.update(stl_path(hist_rest, rest, stl_period(model, len(z))))
    what = "covariates: coefficient x value; " if names else ""
    return parts, path, f"arima: {what}the ARIMA path has no components, split by STL of history + forecast (trend, season, remainder)"


def ces(model, z, steps, exog, hist_cov):
    path = _own_path(model, steps, exog)
    return (stl_path(np.asarray(z, dtype=float), path, stl_period(model, len(z))), path,
            "ces: no components of its own; split by STL of history + forecast (trend, season, remainder)")


def prophet(model, z, steps, exog, hist_cov):
    """Prophet's own components: trend, each seasonality, holidays, each regressor; multiplicative ones
    are scaled by the trend, as Prophet combines them."""
    from forecasting.frequency import future_dates

    future = pd.DataFrame({"ds": future_dates(model.last_date, steps, model.context.frequency)})
    if exog is not None:
        future = pd.concat([future, exog.reset_index(drop=True)], axis=1)
    out = prophet_predict(model.model, future)
    return prophet_parts(model.model, out, model.context.covariates), out["yhat"].to_numpy(float), \
        "prophet: its own components (trend, seasonalities, holidays, regressors; multiplicative ones x trend)"


def prophet_predict(fitted, frame: pd.DataFrame) -> pd.DataFrame:
    """Prophet's point prediction with every component column (no interval sampling: only the means)."""
    samples = fitted.uncertainty_samples
    fitted.uncertainty_samples = 0
    try:
        return fitted.predict(frame)
    finally:
        fitted.uncertainty_samples = samples


def prophet_parts(fitted, out: pd.DataFrame, covariates) -> Parts:
    trend = out["trend"].to_numpy(float)
    scale = lambda mode: trend if mode == "multiplicative" else 1.0  # noqa: E731
    parts: Parts = {"trend": trend.copy(), "season": np.zeros(len(out))}
    for name, spec in fitted.seasonalities.items():
        parts["season"] = parts["season"] + out[name].to_numpy(float) * scale(spec["mode"])
    if "holidays" in out.columns:
        parts["holidays"] = out["holidays"].to_numpy(float) * scale(fitted.holidays_mode or fitted.seasonality_mode)
    for name in covariates:
        if name in fitted.extra_regressors:
            parts[name] = out[name].to_numpy(float) * scale(fitted.extra_regressors[name]["mode"])
    return parts


def xgboost(model, z, steps, exog, hist_cov):
    """The trees forecast the change over one season, recursively: each step is the value one season
    earlier (observed: its STL trend, season and remainder; forecast: that step's components) plus the
    predicted change split by the trees' SHAP values (pred_contribs)."""
    path, changes, rows = model.recursive(steps, exog)
    shares = grouped_contributions(xgboost_contributions(model._model.get_booster(), rows), changes, model.feature_components())
    m, observed = model._m, np.asarray(model._y, dtype=float)
    trend, season, remainder = stl_split(observed, m) if m > 1 else (observed, np.zeros_like(observed), np.zeros_like(observed))
    base = {"trend": trend, "season": season, "remainder": remainder}
    names = list(dict.fromkeys([*base, *shares]))
    parts = {name: np.zeros(steps) for name in names}
    n = len(observed)
    for i in range(steps):
        before = n + i - m
        for name in names:
            earlier = base[name][before] if before < n and name in base else (parts[name][before - n] if before >= n else 0.0)
            parts[name][i] = earlier + shares.get(name, np.zeros(steps))[i]
    lag = f"the value {m} periods earlier" if m > 1 else "the previous value"
    return parts, path, (f"xgboost: {lag} (observed: its STL trend, season, remainder) plus the trees' predicted change, "
                         "split by SHAP values: recent changes and bias -> trend, calendar -> season, holiday count -> holidays, "
                         "covariates -> their own; remainder also holds the trees' float32 rounding")


def global_member(model, z, steps, exog, hist_cov):
    """The global model (one LightGBM over every segment of the run) forecasts this segment's path; its
    trees' contributions are not split per segment yet, so the path is split by STL of history + forecast."""
    from forecasting.frequency import future_dates

    dates = future_dates(model.last_date, steps, model.context.frequency)
    future = exog.reset_index(drop=True).assign(ds=dates) if exog is not None else None
    yhat = model.forecast(dates, future, calibrated=False)["yhat"].to_numpy(float)
    path = model._to_model_scale(yhat)
    return (stl_path(np.asarray(z, dtype=float), path, stl_period(model, len(z))), path,
            "global: its trees' contributions are not split per segment; split by STL of history + forecast (trend, season, remainder)")


FAMILY_PARTS: dict[str, Callable] = {
    "naive": naive, "seasonal_naive": seasonal_naive, "drift": drift, "mean": mean, "ets": ets, "theta": theta,
    "arima": arima, "ces": ces, "prophet": prophet, "xgboost": xgboost, "global": global_member,
}
