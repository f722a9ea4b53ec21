"""A champion's forecast as additive components per period — trend (level and trend), season,
holidays, each covariate's effect, a remainder, an adjustment — that add up exactly to ``yhat``.

The family splits its path on its own scale (:mod:`forecasting.explain.families`); this module carries
the split through what :meth:`Forecaster.forecast` does after the family: a long season removed as
Fourier terms is put back (season), the log transform is undone (each component's effect taken in the
order of :data:`ORDER`, so they telescope to ``expm1`` of the total), and non-negative clipping is the
``adjustment``. The ensemble's components are the equal-weight mean of its members'."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.explain.decompose import stl_path
from forecasting.explain.families import FAMILY_PARTS, stl_period
from forecasting.frequency import future_dates

PREFIX = "component_"
# the order components are taken in (and shown): what the forecast stands on first
ORDER = ("trend", "season", "holidays")
TAIL = ("remainder", "adjustment", "reconciliation")
RELATIVE_TOLERANCE = 1e-9


@dataclass
class Components:
    """Per forecast period, additive components whose sum is the forecast's ``yhat``."""

    frame: pd.DataFrame  # ds, then one ``component_*`` column per component
    decomposition: str  # how they were obtained (the family's own, STL of history + forecast, ...)

    @property
    def columns(self) -> list[str]:
        return [c for c in self.frame.columns if c.startswith(PREFIX)]

    def total(self) -> np.ndarray:
        return self.frame[self.columns].to_numpy(dtype=float).sum(axis=1)


def column_names(covariates) -> dict[str, str]:
    """Component -> output column: ``component_trend``, ..., ``component_<covariate>`` (a covariate named
    like a component gets ``component_covariate_<name>``)."""
    reserved = set(ORDER) | set(TAIL)
    names = {name: PREFIX + name for name in (*ORDER, *TAIL)}
    for cov in covariates:
        names[cov] = PREFIX + ("covariate_" + cov if cov in reserved else cov)
    return names


def ordered(parts: dict[str, np.ndarray], covariates) -> list[str]:
    """Components in the order they are taken: trend, season, holidays, covariates, remainder, the rest."""
    keys = [k for k in (*ORDER, *covariates, *TAIL) if k in parts]
    return keys + [k for k in parts if k not in keys]


def explain_forecast(model, history: pd.DataFrame, dates: pd.DatetimeIndex | int, future: pd.DataFrame | None = None) -> Components:
    """The components of ``model.forecast(dates, future)``'s ``yhat``.

    Args:
        model: a fitted :class:`forecasting.models.Forecaster` (any family, or the ensemble).
        history: the ``ds, y`` (and covariates) it was fitted on; the families with no components of
            their own are split by STL of this history followed by their forecast.
        dates, future: as for ``model.forecast``.

    Returns:
        :class:`Components`: one row per date; the columns add up to ``yhat`` within 1e-9 relative.
    """
    if model.name == "ensemble":
        return _ensemble(model, history, dates, future)
    dates = model._dates(dates)
    steps_index = future_dates(model.last_date, model._steps_to(dates.max()), model.context.frequency)
    positions = steps_index.get_indexer(dates)
    exog = model._future_covariates(steps_index, future)
    z, hist_cov = model_scale_history(model, history)
    covariates = tuple(model.context.covariates)
    parts, path, decomposition = FAMILY_PARTS[model.name](model, z, len(steps_index), exog, hist_cov)
    if not _adds_up(sum(parts.values()), path):  # never shown silently: the path is split by STL instead
        parts = stl_path(z, path, stl_period(model, len(z)))
        decomposition = f"{model.name}: its own split did not add up; split by STL of history + forecast (trend, season, remainder)"
    season = getattr(model, "_long_season", None)
    if season is not None:
        parts = _restore_long_season(parts, season, model._fitted_periods + np.arange(len(steps_index)), covariates)
        decomposition += f"; the yearly season removed before fitting ({season.harmonics} Fourier harmonics) is in season"
    parts = {name: values[positions] for name, values in parts.items()}
    if model.context.transform == "log":
        parts = undo_log(parts, covariates)
        decomposition += "; log transform undone with each component's effect taken in turn (trend first)"
    yhat = model.forecast(dates, future, calibrated=False)["yhat"].to_numpy(dtype=float)
    total = sum(parts.values())
    clipped = np.clip(total, 0, None) - total if model.context.non_negative else np.zeros_like(total)
    if not _adds_up(total + clipped, yhat):
        raise AssertionError(f"{model.name}: the components add up to {total + clipped} instead of {yhat}")
    rounding = yhat - total - clipped  # float rounding of the sum: kept for exactness, dropped when it is noise
    rounding[np.abs(rounding) <= 1e-12 * np.maximum(np.abs(yhat), 1.0)] = 0.0
    parts["adjustment"] = clipped + rounding
    if model.context.non_negative:
        decomposition += "; adjustment = what clipping at zero removed"
    return Components(_frame(dates, parts, covariates), decomposition)


def model_scale_history(model, history: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame | None]:
    """The history as the family saw it (log transform applied, a long season removed) and its covariates."""
    z = model._to_model_scale(history["y"].to_numpy(dtype=float))
    season = getattr(model, "_long_season", None)
    if season is not None:
        z = season.remove(z)
    names = list(model.context.covariates)
    hist_cov = history[names].reset_index(drop=True) if names and set(names) <= set(history.columns) else None
    return z, hist_cov


def with_reconciliation(components: Components, reconciled_yhat) -> Components:
    """The components of a reconciled forecast: a ``reconciliation`` component (reconciled - base)
    keeps the sum exact."""
    frame = components.frame.copy()
    frame[PREFIX + "reconciliation"] = np.asarray(reconciled_yhat, dtype=float) - components.total()
    return Components(frame, components.decomposition + "; reconciliation = the reconciled forecast minus the segment's own")


def _ensemble(model, history, dates, future) -> Components:
    """The weighted mean of the members' components, with the ensemble's own weights (equal, or the global
    model's learned weight against the others'): its yhat is that mean of theirs."""
    members = [explain_forecast(member, history, dates, future) for member in model.members]
    weights = getattr(model, "weights", None)  # ensembles pickled before weights: equal
    columns = list(dict.fromkeys(c for m in members for c in m.columns))
    frame = members[0].frame[["ds"]].copy()
    for column in columns:
        frame[column] = np.average([m.frame[column].to_numpy(float) if column in m.frame else np.zeros(len(frame)) for m in members],
                                   axis=0, weights=weights)
    names = ", ".join(f"{member.name} ({m.decomposition.split(': ', 1)[-1]})" for member, m in zip(model.members, members))
    how = "the equal-weight mean" if weights is None else "the weighted mean (" + ", ".join(
        f"{member.name} {w:.3g}" for member, w in zip(model.members, weights)) + ")"
    return Components(frame, f"ensemble: {how} of its members' components: {names}")


def _restore_long_season(parts, season, positions, covariates):
    """Undo FourierSeason.remove: add its values (additive) or the lift it gives the path (multiplicative)."""
    path = sum(parts.values())
    lift = path * (np.exp(season.component(positions)) - 1) if season.log else season.component(positions)
    return {**parts, "season": parts.get("season", 0.0) + lift}


def undo_log(parts: dict[str, np.ndarray], covariates) -> dict[str, np.ndarray]:
    """``expm1`` of the total as a telescoping sum: each component's effect given the ones before it."""
    out, running, before = {}, 0.0, 0.0
    for name in ordered(parts, covariates):
        running = running + parts[name]
        with np.errstate(over="ignore"):
            now = np.expm1(running)
        out[name] = now - before
        before = now
    return out


def _adds_up(total, target) -> bool:
    total, target = np.asarray(total, dtype=float), np.asarray(target, dtype=float)
    return bool(np.all(np.abs(total - target) <= RELATIVE_TOLERANCE * np.maximum(np.abs(target), 1.0)))


def _frame(dates, parts, covariates) -> pd.DataFrame:
    names = column_names(covariates)
    frame = pd.DataFrame({"ds": pd.DatetimeIndex(dates)})
    for name in ordered(parts, covariates):
        values = np.broadcast_to(np.asarray(parts[name], dtype=float), (len(frame),))
        frame[names.get(name, PREFIX + name)] = values
    return frame
