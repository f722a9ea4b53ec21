"""The history's actuals in the same components as the forecast, so a bridge can compare them: each
observed value split into trend, season, holidays, covariate effects and a remainder (the irregular,
which the forecast does not repeat) that add up exactly to the actual."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.explain.components import PREFIX, column_names, model_scale_history, ordered, undo_log
from forecasting.explain.decompose import stl_split
from forecasting.explain.families import prophet_parts, prophet_predict, stl_period


def history_components(model, history: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """``ds, y`` and one ``component_*`` column per component for every period of ``history`` (the
    frame ``model`` was fitted on); the components of a row add up to its ``y``. Prophet: its own
    fitted components, the residual as remainder; ARIMA: each covariate's coefficient x value, the rest
    by STL; every other family: STL (trend, season, remainder); the ensemble: the mean of its members'.
    Returns the frame and how it was decomposed."""
    if model.name == "ensemble":
        frames = [history_components(member, history) for member in model.members]
        columns = list(dict.fromkeys(c for frame, _ in frames for c in frame.columns if c.startswith(PREFIX)))
        weights = getattr(model, "weights", None)  # the ensemble's own: each actual is still split exactly
        out = history[["ds", "y"]].reset_index(drop=True).copy()
        for column in columns:
            out[column] = np.average([f[column].to_numpy(float) if column in f else np.zeros(len(out)) for f, _ in frames], axis=0,
                                     weights=weights)
        return out, "the " + ("" if weights is None else "weighted ") + "mean of the members' splits of the actuals"
    z, hist_cov = model_scale_history(model, history)
    covariates = tuple(model.context.covariates)
    if model.name == "prophet":
        frame = pd.DataFrame({"ds": pd.DatetimeIndex(history["ds"])})
        if hist_cov is not None:
            frame = pd.concat([frame, hist_cov], axis=1)
        fitted = prophet_predict(model.model, frame)
        parts = prophet_parts(model.model, fitted, covariates)
        parts["remainder"] = z - fitted["yhat"].to_numpy(float)
        how = "Prophet's fitted components, the residual as remainder"
    else:
        parts, rest = {}, z.copy()
        if model.name == "arima" and hist_cov is not None:
            coef = model._model.model_["coef"]
            for i, name in enumerate(covariates):
                parts[name] = float(coef.get(f"ex_{i + 1}", 0.0)) * hist_cov[name].to_numpy(dtype=float)
                rest = rest - parts[name]
        trend, season, remainder = stl_split(rest, stl_period(model, len(z)))
        parts.update(trend=trend, season=season, remainder=remainder)
        how = ("each covariate's coefficient x value, the rest " if parts.keys() - {"trend", "season", "remainder"} else "") + "by STL"
    long_season = getattr(model, "_long_season", None)
    if long_season is not None:
        positions = np.arange(len(z))
        total = sum(parts.values())
        lift = total * (np.exp(long_season.component(positions)) - 1) if long_season.log else long_season.component(positions)
        parts["season"] = parts["season"] + lift
    if model.context.transform == "log":
        parts = undo_log(parts, covariates)
    names = column_names(covariates)
    out = history[["ds", "y"]].reset_index(drop=True).copy()
    for name in ordered(parts, covariates):
        out[names.get(name, PREFIX + name)] = parts[name]
    return out, how
