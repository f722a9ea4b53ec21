"""What a reconciled run shows: one forecast table with every node, the leaderboard with each node's
level, the per-level table of base vs reconciled backtest scores, and the CLI summary lines."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.hierarchy.run import HierarchyRun
from forecasting.pipeline import forecast_frame, key_column, leaderboard_frame

ALL_LEVELS = "all levels"


def hierarchy_forecast_frame(result: HierarchyRun, segment_cols: list[str]) -> pd.DataFrame:
    """Every node's forecast, coarsest level first: the segment columns (empty where the level
    aggregates a column away), ``level``, ``ds``, the reconciled ``yhat`` and bounds, the base
    (unreconciled) forecast as ``yhat_base``, ``model`` (the node's champion), ``reconciliation``
    (the method used) and the node key; then any column the plain forecast table has besides."""
    key = key_column(segment_cols)
    table = forecast_frame(result.run, segment_cols)
    champion = table["champion"].to_numpy(bool) if "champion" in table else np.ones(len(table), bool)
    reconciled = pd.DataFrame({
        key: np.repeat(np.array(result.hierarchy.nodes, dtype=object), len(result.dates)),
        "ds": np.tile(result.dates.to_numpy(), len(result.hierarchy.nodes)),
        "_yhat": result.yhat.ravel(), "_lower": result.lower.ravel(), "_upper": result.upper.ravel()})
    at = pd.MultiIndex.from_frame(reconciled[[key, "ds"]]).get_indexer(pd.MultiIndex.from_arrays([table[key], pd.DatetimeIndex(table["ds"])]))
    table["yhat_base"] = table["yhat"]
    rows = np.flatnonzero(champion)
    for column, source in (("yhat", "_yhat"), ("yhat_lower", "_lower"), ("yhat_upper", "_upper")):
        table.loc[rows, column] = reconciled[source].to_numpy()[at[rows]]
    table["level"] = table[key].map(result.hierarchy.level_of)
    table["reconciliation"] = np.where(champion, result.method, "")
    first = [*segment_cols, "level", "ds", "yhat", "yhat_lower", "yhat_upper", "yhat_base", "model", "reconciliation", key]
    return table[[*first, *[c for c in table.columns if c not in first]]]


def hierarchy_leaderboard(result: HierarchyRun, segment_cols: list[str]) -> pd.DataFrame:
    """Every node's leaderboard (:func:`forecasting.pipeline.leaderboard_frame`) with its level."""
    board = leaderboard_frame(result.run, segment_cols)
    if board.empty:
        return board
    key = key_column(segment_cols)
    board.insert(1, "level", board[key].map(result.hierarchy.level_of))
    return board


def reconciliation_frame(result: HierarchyRun) -> pd.DataFrame:
    """Per level and over all levels: the base forecasts' backtest score and each method's, on the
    scored folds; ``used`` names the method of this run."""
    evidence, hierarchy = result.evidence, result.hierarchy
    names = ["base", *[m for m in evidence.scores if m != "base"]]
    rows = []
    for level in hierarchy.levels:
        row = {"level": level.name, "nodes": len(hierarchy.level_nodes(level.name))}
        row.update({name: _round(evidence.level_score(name, hierarchy, level.name)) for name in names})
        rows.append(row)
    rows.append({"level": ALL_LEVELS, "nodes": len(hierarchy.nodes), **{name: _round(evidence.total(name)) for name in names}})
    frame = pd.DataFrame(rows)
    frame["metric"] = evidence.metric
    frame["folds_scored"] = len(evidence.scored)
    frame["used"] = result.method
    return frame


def hierarchy_summary_lines(result: HierarchyRun) -> list[str]:
    """The reconciliation part of the CLI summary: the per-level table, the method and why, notes,
    and the check that the sums hold."""
    table = reconciliation_frame(result)
    names = [c for c in table.columns if c not in ("level", "nodes", "metric", "folds_scored", "used")]
    scored = len(result.evidence.scored)
    lines = ["", f"reconciliation: backtest {result.metric} by level over {scored} scored fold(s) (lower is better; "
                 f"{len(result.evidence.cutoffs)} fold(s) shared by every node, the first only supplies errors)"]
    header = f"{'level':24s} {'nodes':>5s} " + " ".join(f"{n:>11s}" for n in names)
    lines += [header, "-" * len(header)]
    for row in table.itertuples(index=False):
        cells = " ".join(f"{_fmt(getattr(row, n)):>11s}" for n in names)
        lines.append(f"{row.level[:24]:24s} {row.nodes:5d} {cells}")
    lines.append(f"method: {result.method}" + (" (chosen by auto)" if result.asked == "auto" else "") + f"; why: {result.why}")
    lines += [f"  note: {note}" for note in result.notes]
    gap = coherence_gap(result)
    lines.append(f"sums: every parent equals the sum of its children at every date (largest relative gap {gap:.1e})")
    return lines


def coherence_gap(result: HierarchyRun) -> float:
    """The largest |node - sum of its bottom segments| / max(|sum|, 1) over every node and date."""
    implied = result.hierarchy.S @ result.yhat[len(result.hierarchy.aggregates):]
    return float(np.max(np.abs(result.yhat - implied) / np.maximum(np.abs(implied), 1.0)))


def _round(value: float):
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def _fmt(value) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.3f}"
