"""How much backtest evidence a single family needs to replace the ensemble, and the one line that
says why a champion won."""

from __future__ import annotations

import numpy as np

from forecasting.backtest import SegmentBacktest, ensemble_members, rank_key

# A single family replaces the ensemble only on strong evidence: it beat the ensemble in every backtest
# fold, and its mean error is lower by more than EVIDENCE / sqrt(periods scored) of the ensemble's
# (41 % with 3 folds of 18 months, 71 % with one fold of 18, 32 % with 3 folds of 30 days). With 1-3
# folds the best single score is an optimistic draw (the winner's curse), and less so the more periods
# back it. Chosen on the Tourism set (from 2 and 3, and no switch at all), checked on M3 and M1
# (docs/models-and-selection.md).
EVIDENCE = 3.0


def _per_fold(backtest: SegmentBacktest, name: str, folds: int) -> list[float | None]:
    return [f[backtest.metric].value if f[backtest.metric].defined else None for f in backtest.candidates[name].fold_metrics[:folds]]


def required_margin(backtest: SegmentBacktest, folds: int) -> float:
    """How much lower a single family's mean error must be than the ensemble's: EVIDENCE / sqrt(periods)."""
    return EVIDENCE / np.sqrt(folds * (backtest.window or 1))


def strong_evidence(backtest: SegmentBacktest, single: str, folds: int) -> bool:
    """Whether ``single`` beat the ensemble in each of the first ``folds`` folds and on average by more
    than ``EVIDENCE / sqrt(folds x periods per fold)`` of the ensemble's error."""
    best, ensemble = _per_fold(backtest, single, folds), _per_fold(backtest, "ensemble", folds)
    if not best or len(best) != len(ensemble) or None in best or None in ensemble:
        return False
    return all(b < e for b, e in zip(best, ensemble)) and np.mean(best) < (1 - required_margin(backtest, folds)) * np.mean(ensemble)


def champion_reason(backtest: SegmentBacktest, ranked: list[str], champion: str) -> str:
    """One line saying why ``champion`` won, with the backtest evidence the rule weighed (for the
    leaderboard, the MLflow run's ``champion_reason`` tag and the Prefect summary)."""
    metric, folds = backtest.metric, len(backtest.cutoffs)
    if not folds:
        return f"{champion} by rule: no backtest was possible"
    skipped = ranked[:ranked.index(champion)] if champion in ranked else []
    prefix = f"next in the ranking after {', '.join(skipped)} (see notes); " if skipped else ""

    def mean(values: list[float | None]) -> float | None:
        return float(np.mean(values)) if values and None not in values else None

    if "ensemble" not in backtest.candidates or not backtest.candidates["ensemble"].usable_through(folds):
        value = mean(_per_fold(backtest, champion, folds))
        return prefix + (f"{champion}: lowest backtest {metric} ({value:.3f})" if value is not None else f"{champion}: first in the ranking")
    ensemble_folds = _per_fold(backtest, "ensemble", folds)
    ensemble, need = mean(ensemble_folds), required_margin(backtest, folds)
    if champion != "ensemble":
        if skipped:
            return prefix + champion
        value = mean(_per_fold(backtest, champion, folds))
        return (f"{champion}: beat the ensemble in all {folds} fold(s), {metric} {value:.3f} vs {ensemble:.3f} "
                f"({1 - value / ensemble:.0%} lower; a single family needs > {need:.0%} with {folds * (backtest.window or 1)} periods scored)")
    names = ensemble_members(backtest.candidates, metric, folds, backtest.season)
    members = ", ".join(names)
    weight = getattr(backtest, "global_weight", None)
    if weight is not None and "global" in names and len(names) > 1:
        members += f" (global weighted {weight:.1f}, learned on the run's backtests)"
    singles = [n for n in ranked if n != "ensemble"]
    best = min(singles, key=lambda n: rank_key(backtest.candidates[n], metric)) if singles else None
    best_folds = _per_fold(backtest, best, folds) if best is not None else []
    value = mean(best_folds)
    if value is None or ensemble is None:
        return prefix + f"ensemble of {members}"
    if value >= ensemble:
        return prefix + f"ensemble of {members}: lowest backtest {metric} ({ensemble:.3f}; best single family {best} {value:.3f})"
    wins = sum(b < e for b, e in zip(best_folds, ensemble_folds))
    return (prefix + f"ensemble of {members}: the best single family, {best} ({metric} {value:.3f} vs {ensemble:.3f}, "
            f"{1 - value / ensemble:.0%} lower), beat it in {wins} of {folds} fold(s); a single family needs every fold and > {need:.0%}")
