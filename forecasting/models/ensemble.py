"""The ensemble candidate: the mean of the statistical families' forecasts (bounds averaged alike)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.intervals import apply
from forecasting.models.base import Forecaster

ENSEMBLE_SIZE = 3  # members before any fold when the model set has fewer than 2 of DEFAULT_MEMBERS
# Before the backtest says anything, the ensemble is the equal-weight mean of these statistical families
# (a combination known to be robust: M3/M4 "comb", SCUM). After each fold MODEL_BASED_MEMBERS join them
# when their backtest error so far is at most the best statistical family's
# (forecasting.backtest.ensemble_members).
DEFAULT_MEMBERS = ("ets", "arima", "theta", "ces")
MODEL_BASED_MEMBERS = ("prophet", "xgboost")
# The global model (fitted across segments) is a fixed member; its weight against the mean of the
# others is learned per run from every segment's earlier backtest folds (forecasting.learned_combination),
# equal to the others' before any evidence.
FIXED_MEMBERS = ("global",)
# Yearly data (no season) is mostly trend: there the drift (the line through the first and last
# observation) is a fixed member too. Chosen on Tourism yearly (the four vs the four + drift, always the
# ensemble: MASE 2.742 -> 2.690), checked on M3 yearly (2.640 -> 2.608) and M1 yearly (3.468 -> 3.449).
YEARLY_MEMBERS = ("drift",)


class EnsembleForecaster(Forecaster):
    """Built from already fitted members; fitting it refits every member on the new history."""

    name = "ensemble"
    complexity = 6
    uses_covariates = True

    def __init__(self, context, params=None, members: list[Forecaster] | None = None, global_weight: float | None = None):
        super().__init__(context, params)
        self.members = list(members or [])
        self.weights = member_weights([m.name for m in self.members], global_weight)
        self.params = {"members": [m.name for m in self.members]}
        if self.weights is not None:
            self.params["weights"] = dict(zip(self.params["members"], [round(w, 6) for w in self.weights]))
        if self.members and self.members[0].last_date is not None:
            first = self.members[0]
            self.last_date, self.history_min, self.history_max = first.last_date, first.history_min, first.history_max

    def _fit(self, y, covariates):
        raise NotImplementedError("the ensemble is assembled from fitted members, see combine_members")

    def _path(self, steps, covariates):
        raise NotImplementedError

    def __getstate__(self):
        state = self.__dict__.copy()
        state["members"] = []  # each member is saved in its own directory
        return state

    def _save_extra(self, path: Path) -> None:
        for i, member in enumerate(self.members):
            member.save(path / f"member_{i}_{member.name}")

    def _load_extra(self, path: Path) -> None:
        self.members = [Forecaster.load(p) for p in sorted(path.glob("member_*"), key=lambda p: int(p.name.split("_")[1]))]

    def forecast(self, dates, future=None, calibrated: bool = True) -> pd.DataFrame:
        """The members' own forecasts combined, then the ensemble's own calibration (from its backtest
        errors): calibrating each member would double-count what the combination cancels out."""
        frames = [member.forecast(dates, future, calibrated=False) for member in self.members]
        out = combine_forecasts(frames, getattr(self, "weights", None))  # ensembles pickled before weights: equal
        calibration = getattr(self, "calibration", None) if calibrated else None
        if calibration is not None:
            steps = np.array([len(pd.date_range(self.last_date, d, freq=self.context.frequency)) - 1 for d in pd.DatetimeIndex(out["ds"])])
            y = out["yhat"].to_numpy(float)
            out["yhat_lower"], out["yhat_upper"] = apply(y, out["yhat_lower"].to_numpy(float), out["yhat_upper"].to_numpy(float), calibration, steps)
            if self.context.non_negative:
                out["yhat_lower"] = out["yhat_lower"].clip(lower=0)
        return out


def member_weights(names: list[str], global_weight: float | None) -> list[float] | None:
    """Each member's weight: the global model ``global_weight`` against the others' mean when it is one of
    several members; None (equal weights, the plain mean) otherwise."""
    if global_weight is None or "global" not in names or len(names) == 1:
        return None
    rest = (1 - global_weight) / (len(names) - 1)
    return [global_weight if n == "global" else rest for n in names]


def combine_forecasts(frames: list[pd.DataFrame], weights: list[float] | None = None) -> pd.DataFrame:
    """Weighted mean of point forecasts and of bounds, row by row (all frames share ``ds``; equal
    weights by default)."""
    out = frames[0][["ds"]].copy()
    for col in ("yhat", "yhat_lower", "yhat_upper"):
        out[col] = np.average([f[col].to_numpy(dtype=float) for f in frames], axis=0, weights=weights)
    return out
