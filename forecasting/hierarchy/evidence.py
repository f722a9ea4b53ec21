"""The backtest evidence for reconciliation, and ``auto``'s choice of method.

Each backtest fold reconciles the base forecasts made at that fold's cutoff: for every node, the
forecast of the candidate its own selection would have picked with the folds before (the ensemble
rule of :func:`forecasting.selection.choose`), with mint_shrink's covariance estimated from those
picks' errors in the earlier folds only. The first fold has no earlier errors, so it is not scored:
it only supplies errors to the next (every method is scored on the same folds, the 2nd onwards).
``auto`` takes the method with the lowest all-level score (every node counts once) over the scored
folds; the choice it would make at each fold uses only the folds before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.hierarchy.levels import METHODS
from forecasting.hierarchy.reconcile import ReconciliationError, check_method, reconcile
from forecasting.hierarchy.structure import Hierarchy
from forecasting.metrics import LOWER_IS_BETTER, evaluate

# Used when no fold could be scored: MinT with a shrunk covariance where earlier errors exist (the
# published evidence, FPP3 §11), else its structural-weights form, which needs none.
DEFAULT_METHOD, DEFAULT_WITHOUT_ERRORS = "mint_shrink", "wls_struct"


@dataclass
class FoldBase:
    """Every node's base forecast made at one cutoff (rows in hierarchy order), and what is needed to
    score and calibrate it."""

    cutoff: pd.Timestamp
    base: np.ndarray
    lower: np.ndarray  # the picked family's own interval (uncalibrated), as the backtest made it
    upper: np.ndarray
    actual: np.ndarray
    observed: np.ndarray  # actuals validation did not fill
    insample: list[np.ndarray]  # each node's history before the cutoff (the MASE scale)
    residuals: np.ndarray | None  # nodes x earlier observations: the picks' errors in the folds before


@dataclass
class Evidence:
    """Per scored fold and node, each method's score (and the base forecasts'), and auto's choices."""

    metric: str
    cutoffs: list[pd.Timestamp]  # the folds every node has
    scored: list[int]  # positions in ``cutoffs`` that are scored
    scores: dict[str, np.ndarray] = field(default_factory=dict)  # "base" or method -> (scored folds x nodes)
    failures: dict[str, str] = field(default_factory=dict)  # method -> why it could not run
    reconciled: dict[str, list[np.ndarray]] = field(default_factory=dict)  # method -> reconciled forecasts of each scored fold
    choices: list[str] = field(default_factory=list)  # auto's choice at each fold, then after the last
    notes: list[str] = field(default_factory=list)

    def total(self, name: str, upto: int | None = None) -> float:
        """All-level score of ``name`` over the first ``upto`` scored folds: the mean over folds of the
        mean over nodes."""
        values = self.scores[name][:upto]
        return float(np.nanmean(np.nanmean(values, axis=1))) if values.size else float("nan")

    def level_score(self, name: str, hierarchy: Hierarchy, level: str, upto: int | None = None) -> float:
        index = [i for i, node in enumerate(hierarchy.nodes) if hierarchy.level_of[node] == level]
        values = self.scores[name][:upto, index]
        return float(np.nanmean(values)) if values.size and not np.isnan(values).all() else float("nan")


def fold_bases(hierarchy: Hierarchy, segments: dict, backtests: dict) -> list[FoldBase]:
    """The folds every node has (same cutoff, same window), each with every node's base forecast."""
    from forecasting.selection import choose

    nodes = hierarchy.nodes
    shared = None
    for node in nodes:
        bt = backtests[node]
        found = {(c, bt.window) for c in bt.cutoffs}
        shared = found if shared is None else shared & found
    cutoffs = sorted(c for c, _ in shared or set())
    folds: list[FoldBase] = []
    for position, cutoff in enumerate(cutoffs):
        frames, chosen = [], []
        for node in nodes:
            bt = backtests[node]
            fold = bt.cutoffs.index(cutoff) + 1
            name = next((n for n in choose(bt, fold - 1) if len(bt.candidates[n].forecasts) >= fold), None)
            if name is None:
                break
            chosen.append(name)
            frames.append(bt.candidates[name].forecasts[fold - 1])
        if len(frames) < len(nodes):
            continue
        residuals = []
        for node, name in zip(nodes, chosen):
            bt = backtests[node]
            earlier = [bt.candidates[name].forecasts[bt.cutoffs.index(c)] for c in cutoffs[:position] if c in [f.cutoff for f in folds]]
            residuals.append(np.concatenate([_errors(f) for f in earlier]) if earlier else np.zeros(0))
        insample = [segments[node].history["y"].to_numpy(float)[: int((segments[node].history["ds"] <= cutoff).sum())] for node in nodes]
        folds.append(FoldBase(cutoff, *(np.vstack([f[c].to_numpy(float) for f in frames]) for c in ("yhat", "yhat_lower", "yhat_upper", "y")),
                              np.vstack([f["observed"].to_numpy(bool) for f in frames]), insample,
                              np.vstack(residuals) if residuals[0].size else None))
    return folds


def champion_residuals(hierarchy: Hierarchy, backtests: dict, champions: dict[str, str], cutoffs: list[pd.Timestamp]) -> np.ndarray | None:
    """Each node's champion's errors over the shared folds (NaN where it has no forecast): what the
    final reconciliation's covariance is estimated from."""
    rows = []
    for node in hierarchy.nodes:
        bt = backtests[node]
        candidate = bt.candidates.get(champions[node])
        parts = []
        for cutoff in cutoffs:
            fold = bt.cutoffs.index(cutoff)
            if candidate is not None and len(candidate.forecasts) > fold:
                parts.append(_errors(candidate.forecasts[fold]))
            else:
                parts.append(np.full(bt.window, np.nan))
        rows.append(np.concatenate(parts) if parts else np.zeros(0))
    return np.vstack(rows) if rows and rows[0].size else None


def _errors(frame: pd.DataFrame) -> np.ndarray:
    errors = frame["y"].to_numpy(float) - frame["yhat"].to_numpy(float)
    return np.where(frame["observed"].to_numpy(bool), errors, np.nan)


def candidate_methods(hierarchy: Hierarchy, middle_level: str | None) -> tuple[list[str], dict[str, str]]:
    """The methods these levels allow, and why each other one is left out."""
    usable, skipped = [], {}
    for method in METHODS:
        try:
            check_method(method, hierarchy, middle_level)
        except ReconciliationError as exc:
            skipped[method] = str(exc).removeprefix(f"{method} ")  # the same reason for several methods reads once
            continue
        usable.append(method)
    return usable, skipped


def collect_evidence(hierarchy: Hierarchy, folds: list[FoldBase], methods: list[str], metric: str, season: int,
                     non_negative: bool = False, middle_level: str | None = None) -> Evidence:
    """Score the base forecasts and each method's reconciliation of them on every fold but the first."""
    evidence = Evidence(metric, [f.cutoff for f in folds], list(range(1, len(folds))))
    scored = [folds[i] for i in evidence.scored]
    evidence.scores["base"] = np.array([_scores(f, f.base, metric, season) for f in scored]).reshape(len(scored), len(hierarchy.nodes))
    for method in methods:
        rows, outputs = [], []
        for fold in scored:
            try:
                values, _ = reconcile(method, hierarchy, fold.base, fold.residuals, non_negative, middle_level)
            except ReconciliationError as exc:
                evidence.failures[method] = f"fold with cutoff {fold.cutoff.date()}: {exc}"
                break
            rows.append(_scores(fold, values, metric, season))
            outputs.append(values)
        else:
            evidence.scores[method] = np.array(rows).reshape(len(scored), len(hierarchy.nodes))
            evidence.reconciled[method] = outputs
    evidence.choices = [choose_method(evidence, upto, fold.residuals is not None) for upto, fold in
                        zip([0, *range(len(scored))], folds)]
    evidence.choices.append(choose_method(evidence, len(scored), bool(folds)))
    return evidence


def choose_method(evidence: Evidence, upto: int, have_errors: bool, rule: str = "nodes", hierarchy: Hierarchy | None = None) -> str:
    """auto's method knowing the first ``upto`` scored folds: the lowest all-level score (``rule``
    ``nodes``: every node counts once; ``levels``: every level counts once, the benchmark's
    alternative), ties to the earlier method of ``METHODS``; with no scored fold, the default."""
    candidates = [m for m in METHODS if m in evidence.scores]
    if upto == 0 or not candidates:
        preferred = DEFAULT_METHOD if have_errors else DEFAULT_WITHOUT_ERRORS
        return preferred if preferred in candidates or not candidates else candidates[0]
    sign = 1 if evidence.metric in LOWER_IS_BETTER else -1

    def score(method: str) -> float:
        if rule == "levels":
            return float(np.nanmean([evidence.level_score(method, hierarchy, level.name, upto) for level in hierarchy.levels]))
        return evidence.total(method, upto)

    return min(candidates, key=lambda m: (np.nan_to_num(sign * score(m), nan=np.inf), METHODS.index(m)))


def _scores(fold: FoldBase, values: np.ndarray, metric: str, season: int) -> list[float]:
    out = []
    for i in range(values.shape[0]):
        seen = fold.observed[i] if fold.observed[i].any() else np.ones(values.shape[1], bool)
        actual, forecast = fold.actual[i][seen], values[i][seen]
        result = evaluate(actual, forecast, forecast, forecast, fold.insample[i], season)[metric]
        out.append(result.value if result.defined else np.nan)
    return out


def auto_reason(evidence: Evidence, chosen: str) -> str:
    """Why auto chose ``chosen``, in one line."""
    scored = len(evidence.scored)
    metric = evidence.metric
    if not scored or chosen not in evidence.scores:
        return (f"{chosen}: no backtest fold could be scored ({len(evidence.cutoffs)} fold(s) shared by every node; the first only "
                f"supplies errors), so the default rule")
    others = sorted((evidence.total(m), m) for m in evidence.scores if m not in ("base", chosen))
    base = evidence.total("base")
    mine = evidence.total(chosen)
    gain = f", {1 - mine / base:.1%} below the base forecasts' {base:.3f}" if base and np.isfinite(base) else ""
    runner = f"; next {others[0][1]} {others[0][0]:.3f}" if others else ""
    return f"{chosen}: lowest all-level {metric} {mine:.3f} over {scored} scored fold(s){gain}{runner}"
