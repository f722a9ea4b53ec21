"""Exports of a reconciled forecast: CSV or Parquet as one table; Excel with a summary sheet (base vs
reconciled backtest score per level, the method used) and one sheet per level."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecasting.ops.export import EXCEL_SUFFIXES, write_workbook
from forecasting.tables import write_table


def export_hierarchy(table: pd.DataFrame, path: str | Path, reconciliation: pd.DataFrame) -> Path:
    """The forecast table of every node (with its ``level`` column) to ``path`` by suffix."""
    path = Path(path)
    if path.suffix.lower() not in EXCEL_SUFFIXES:
        return write_table(table, path)
    order = list(dict.fromkeys(table["level"]))
    per_level = {level: table[table["level"] == level].reset_index(drop=True) for level in order}
    return write_workbook(reconciliation, per_level, path)


def reconciliation_path(leaderboard: str | Path) -> Path:
    """Where the per-level reconciliation table goes beside a leaderboard file: ``<name>.reconciliation<suffix>``."""
    leaderboard = Path(leaderboard)
    return leaderboard.with_name(f"{leaderboard.stem}.reconciliation{leaderboard.suffix}")
