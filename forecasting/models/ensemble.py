"""The ensemble candidate: the mean of the statistical families' forecasts (bounds averaged alike)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.models.base import Forecaster

ENSEMBLE_SIZE = 3  # members when the model set has fewer than 2 of DEFAULT_MEMBERS: the best by backtest
# The ensemble combines these statistical families whenever at least 2 of them are usable: the equal-
# weight mean of ETS, ARIMA, Theta and CES, a combination known to be robust (M3/M4 "comb", SCUM) and
# measured on M3 in docs/benchmarks.md.
DEFAULT_MEMBERS = ("ets", "arima", "theta", "ces")


class EnsembleForecaster(Forecaster):
    """Built from already fitted members; fitting it refits every member on the new history."""

    name = "ensemble"
    complexity = 6
    uses_covariates = True

    def __init__(self, context, params=None, members: list[Forecaster] | None = None):
        super().__init__(context, params)
        self.members = list(members or [])
        self.params = {"members": [m.name for m in self.members]}
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

    def forecast(self, dates, future=None) -> pd.DataFrame:
        frames = [member.forecast(dates, future) for member in self.members]
        return combine_forecasts(frames)


def combine_forecasts(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Mean of point forecasts and of bounds, row by row (all frames share ``ds``)."""
    out = frames[0][["ds"]].copy()
    for col in ("yhat", "yhat_lower", "yhat_upper"):
        out[col] = np.mean([f[col].to_numpy(dtype=float) for f in frames], axis=0)
    return out
