"""Exports finance teams open: CSV, Parquet, and an Excel workbook (a summary sheet plus one sheet per
segment; needs the ``excel`` extra)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from forecasting.errors import ConfigError
from forecasting.tables import atomic_output, write_table

EXCEL_SUFFIXES = (".xlsx",)
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def sheet_names(segments: list[str], reserved: tuple[str, ...] = ("summary",)) -> dict[str, str]:
    """Excel sheet names (≤ 31 characters, none of []:*?/\\, unique, none of ``reserved``) for each segment key."""
    names, used = {}, {name.lower() for name in reserved}
    for segment in segments:
        base = _SHEET_BAD.sub("_", segment.replace("|", " ")).strip("'")[:31] or "segment"
        name, n = base, 2
        while name.lower() in used:
            suffix = f"~{n}"
            name, n = base[: 31 - len(suffix)] + suffix, n + 1
        used.add(name.lower())
        names[segment] = name
    return names


def write_workbook(summary: pd.DataFrame, per_segment: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """A ``summary`` sheet, then one sheet per segment; written through a temporary file."""
    try:
        import openpyxl  # noqa: F401
    except ImportError as exc:
        raise ConfigError("Excel export needs the 'excel' extra: pip install 'finance-forecast-flows[excel]' (or write .csv/.parquet)") from exc
    names = sheet_names(list(per_segment))
    with atomic_output(path, suffix=".xlsx") as tmp:
        with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
            summary.to_excel(writer, sheet_name="summary", index=False)
            for segment, frame in per_segment.items():
                frame.to_excel(writer, sheet_name=names[segment], index=False)
    return Path(path)


def export_forecasts(table: pd.DataFrame, path: str | Path, leaderboard: pd.DataFrame | None = None, key: str = "segment") -> Path:
    """A long forecast table (with the segment-key column ``key``) to CSV, Parquet or Excel by suffix.
    In Excel the summary sheet has one row per segment (dates, totals, champion, its backtest scores and
    low-confidence reason when the leaderboard is given), then one sheet per segment."""
    path = Path(path)
    if path.suffix.lower() not in EXCEL_SUFFIXES:
        return write_table(table, path)
    per_segment = {seg: part.reset_index(drop=True) for seg, part in table.groupby(key, sort=True)}
    summary = pd.DataFrame([_summary_row(key, seg, part) for seg, part in per_segment.items()])
    if leaderboard is not None and not leaderboard.empty and "champion" in leaderboard:
        columns = [key, "mase", "smape", "wape", *(["low_confidence"] if "low_confidence" in leaderboard else [])]
        summary = summary.merge(leaderboard[leaderboard["champion"]][columns], on=key, how="left")
    return write_workbook(summary, per_segment, path)


def _summary_row(key: str, segment: str, part: pd.DataFrame) -> dict:
    """A segment's summary: its champion's periods and total (with ``all_models`` the other candidates'
    rows follow on its sheet and count nowhere here)."""
    if "champion" in part.columns:
        part = part[part["champion"].astype(bool)]
    row = {key: segment, "model": part["model" if "model" in part.columns else "family"].iloc[0],
           "first": str(part["ds"].min())[:10], "last": str(part["ds"].max())[:10], "periods": len(part),
           "forecast_total": float(part["yhat"].sum())}
    return row
