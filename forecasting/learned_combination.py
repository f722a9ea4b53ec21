"""A combination learned on the run's own backtests (issue 27, item 5): the global model's weight in the
ensemble, against the mean of the other members, one per run and frequency, chosen where the pooled
backtest error of all segments is lowest (the grid 0, 0.1, .., 1). A stage between the segments'
backtests and their selection.

Honesty: a segment's fold at position ``j`` from its end (1: its last fold) is combined with the weight
learned on every segment's folds at positions above ``j`` (older folds) only; before any such evidence
the members are equal. The refit uses the weight learned on every fold. Errors are in each fold's MASE
scale, so segments of any size weigh alike.

Chosen on Tourism monthly and quarterly against a fixed weight (0.4, 0.5), an equal fixed member and
a member when as good (docs/models-and-selection.md, "How the global model joins the ensemble").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from forecasting.backtest import SegmentBacktest, ensemble_members, reweight_ensemble

GRID = np.round(np.linspace(0.0, 1.0, 11), 2)


def weight_errors(backtest: SegmentBacktest) -> dict[int, np.ndarray]:
    """Per fold position (1: the last fold) the mean absolute error, in the fold's MASE scale, of the
    ensemble with the global model weighted at each value of GRID; empty when the global model is not
    among the members."""
    out: dict[int, np.ndarray] = {}
    candidates, folds = backtest.candidates, len(backtest.cutoffs)
    if "global" not in candidates or "ensemble" not in candidates:
        return out
    for fold in range(1, folds + 1):
        members = [m for m in ensemble_members(candidates, backtest.metric, fold - 1, backtest.season) if len(candidates[m].forecasts) >= fold]
        if "global" not in members or len(members) < 2:
            continue
        frame = candidates["global"].forecasts[fold - 1]
        mase = candidates["global"].fold_metrics[fold - 1].get("mase")
        seen = frame["observed"].to_numpy(bool) if "observed" in frame else np.ones(len(frame), bool)
        actual, own = frame["y"].to_numpy(float)[seen], frame["yhat"].to_numpy(float)[seen]
        mae = float(np.mean(np.abs(actual - own))) if len(actual) else 0.0
        if mase is None or not mase.defined or mase.value <= 0 or mae <= 0:
            continue
        scale = mae / mase.value
        others = np.mean([candidates[m].forecasts[fold - 1]["yhat"].to_numpy(float)[seen] for m in members if m != "global"], axis=0)
        out[folds - fold + 1] = np.array([np.mean(np.abs(actual - ((1 - a) * others + a * own))) / scale for a in GRID])
    return out


@dataclass
class LearnedWeights:
    """The global model's weight for a fold position (what older positions showed) and for the refit."""

    totals: dict[int, np.ndarray] = field(default_factory=dict)  # summed errors per fold position

    def add(self, errors: dict[int, np.ndarray]) -> None:
        for position, values in errors.items():
            self.totals[position] = self.totals.get(position, 0) + values

    def weight(self, above: int = 0) -> float | None:
        """Learned on the positions above ``above`` (0: every fold); None without evidence."""
        older = [values for position, values in self.totals.items() if position > above]
        return float(GRID[int(np.argmin(np.sum(older, axis=0)))]) if older else None


def learn_and_reweight(pairs: list) -> dict[str, float | None]:
    """Learn the global model's weight per frequency from every segment's backtest and score every
    segment's ensemble with it (:func:`forecasting.backtest.reweight_ensemble`). ``pairs``: (validated
    segment, its backtest). Returns the refit weight per frequency."""
    learned: dict[str, LearnedWeights] = {}
    for segment, backtest in pairs:
        learned.setdefault(segment.frequency, LearnedWeights()).add(weight_errors(backtest))
    for segment, backtest in pairs:
        if "global" not in backtest.candidates or "ensemble" not in backtest.candidates:
            continue
        plan = learned[segment.frequency]
        folds = len(backtest.cutoffs)
        reweight_ensemble(segment, backtest, [plan.weight(folds - k + 1) for k in range(1, folds + 1)], plan.weight())
    return {frequency: plan.weight() for frequency, plan in learned.items()}
