"""How much backtest a history allows: the rolling-origin folds, the periods each fold scores, and when
the evidence is too thin to trust (low confidence).

The rule, in plain words:

- A fold trains on at least ``T = max(2 x season, 12)`` periods, but never on more than half the
  history (so a short history keeps half of itself for checking), and never on fewer than 3.
- As many folds as asked fit, each scoring a full ``horizon``, the last ending at the last observation.
- When not even one full-horizon fold fits, one fold scores a shorter window: the periods after ``T``.
  The forecast still covers the whole horizon; the segment is marked low confidence.
- With fewer than ``MIN_BACKTEST`` periods (a 3-period training window and a 2-period check) there is
  no backtest at all: the champion is chosen by a stated rule, and the segment is low confidence.
- Fewer than ``MIN_OBSERVATIONS`` periods cannot be forecast.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_OBSERVATIONS = 3
MIN_TRAIN = 3
MIN_WINDOW = 2
MIN_BACKTEST = MIN_TRAIN + MIN_WINDOW
TRAIN_FLOOR = 12


@dataclass(frozen=True)
class FoldPlan:
    """The backtest a history of ``n`` periods allows for a given horizon."""

    n: int
    horizon: int
    folds: int  # 0: no backtest
    window: int  # periods each fold scores (the horizon, or fewer for a short history)
    wanted: int  # folds asked for

    @property
    def first_train(self) -> int:
        return self.n - self.folds * self.window

    @property
    def low_confidence(self) -> bool:
        return self.folds == 0 or self.window < self.horizon

    def reason(self) -> str:
        """Why the evidence is thin, in one phrase (empty when it is not)."""
        if self.folds == 0:
            return f"no backtest possible: {self.n} observations (a backtest needs at least {MIN_BACKTEST})"
        if self.window < self.horizon:
            return (f"backtest scored {self.window} of the {self.horizon} periods forecast "
                    f"({self.n} observations: one fold after a {self.first_train}-period training window)")
        return ""

    def describe(self) -> str:
        """What was used, for reports: ``3 folds of 13 periods`` or the low-confidence reason."""
        if self.folds == 0:
            return "no backtest"
        return f"{self.folds} fold{'s' if self.folds > 1 else ''} of {self.window} period{'s' if self.window > 1 else ''}"


def train_floor(n: int, season: int) -> int:
    """The shortest training window of a fold: two seasons (at least 12 periods), at most half of the
    history, at least 3."""
    return max(min(max(2 * season, TRAIN_FLOOR), -(-n // 2)), MIN_TRAIN)


def plan_folds(n: int, horizon: int, folds: int, season: int) -> FoldPlan:
    """The folds a history of ``n`` periods allows (see the module docstring for the rule)."""
    if n < MIN_BACKTEST:
        return FoldPlan(n, horizon, 0, 0, folds)
    floor = train_floor(n, season)
    full = min(folds, (n - floor) // horizon)
    if full >= 1:
        return FoldPlan(n, horizon, full, horizon, folds)
    window = n - floor
    if window < MIN_WINDOW:
        return FoldPlan(n, horizon, 0, 0, folds)
    return FoldPlan(n, horizon, 1, min(window, horizon), folds)


def fold_cutoffs(n: int, window: int, folds: int) -> list[int]:
    """Training lengths of the folds, oldest first: the last fold ends at the last observation."""
    return [n - (folds - i) * window for i in range(folds)]
