"""The forecast workbook that audits itself (``forecast --output x.xlsx``): the summary first (one
header row, one row per segment; counts are values, totals are live ``=SUM`` formulas over the segment
sheets), one sheet per segment, the components (each row adds up to its forecast by formula, beside a
check against the segment sheet), the bridges from last year, their waterfalls, and an audit sheet.

Written with XlsxWriter, which stores each formula's value beside it: Excel recalculates on opening,
and readers without a calculation engine (pandas) still see the numbers."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError
from forecasting.ops.export import sheet_names
from forecasting.tables import atomic_output

MONEY, DATE, METRIC, PERCENT = "#,##0.00", "yyyy-mm-dd", "0.000", "0.0%"
METRICS = ("mase", "smape", "wape")
RESERVED = ("summary", "components", "bridge", "waterfalls", "audit")
WATERFALLS = 12  # bridge charts embedded (the segments with the largest change from last year)


def column_letter(index: int) -> str:
    """0 -> A, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def quoted(sheet: str) -> str:
    return "'" + sheet.replace("'", "''") + "'"


class _Writer:
    """Cells with the finance formats: dates, amounts, metrics, percentages; blanks for missing."""

    def __init__(self, book):
        self.book = book
        self.formats = {name: book.add_format({"num_format": code}) for name, code in
                        (("money", MONEY), ("date", DATE), ("metric", METRIC), ("percent", PERCENT))}
        self.header = book.add_format({"bold": True, "bottom": 1, "text_wrap": True, "valign": "top"})

    def sheet(self, name: str, columns: list[str], widths: dict[str, int] | None = None):
        sheet = self.book.add_worksheet(name)
        sheet.write_row(0, 0, columns, self.header)
        sheet.freeze_panes(1, 0)
        for i, column in enumerate(columns):
            sheet.set_column(i, i, (widths or {}).get(column, max(10, min(len(column) + 2, 40))))
        return sheet

    def cell(self, sheet, row: int, col: int, value, kind: str | None = None) -> None:
        fmt = self.formats.get(kind) if kind else None
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
            sheet.write_blank(row, col, None, fmt)
        elif isinstance(value, (bool, np.bool_)):
            sheet.write_boolean(row, col, bool(value))
        elif isinstance(value, (pd.Timestamp, np.datetime64)):
            sheet.write_datetime(row, col, pd.Timestamp(value).to_pydatetime(), self.formats["date"])
        elif isinstance(value, (int, float, np.integer, np.floating)):
            sheet.write_number(row, col, float(value), fmt)
        else:
            sheet.write_string(row, col, str(value))

    def formula(self, sheet, row: int, col: int, formula: str, value: float, kind: str = "money") -> None:
        sheet.write_formula(row, col, formula, self.formats[kind], float(value))


def _kind(column: str) -> str | None:
    if column in ("yhat", "yhat_lower", "yhat_upper", "value") or column.startswith("component_") or column.endswith("_total"):
        return "money"
    if column in METRICS or column == "coverage":
        return "metric"
    return None


def write_audited_workbook(table: pd.DataFrame, path: str | Path, run, leaderboard: pd.DataFrame | None, key: str,
                           audit: tuple[list[tuple[str, str]], pd.DataFrame], keep_components: bool = False) -> Path:
    """Write the workbook through a temporary file (nothing half-written on failure).

    Args:
        table: the long forecast table with ``component_*`` columns (``forecast_frame(..., components=True)``).
        run: the :class:`forecasting.pipeline.ForecastRun` (bridges, forecastability).
        leaderboard: ``leaderboard_frame(run)``: the champion's backtest scores on the summary.
        key: the segment-key column.
        audit: :func:`forecasting.ops.audit.audit_facts`'s facts and per-segment table.
        keep_components: also keep the component columns on the segment sheets (``--components``).
    """
    try:
        import xlsxwriter
    except ImportError as exc:
        raise ConfigError("Excel export needs the 'excel' extra: pip install 'finance-forecast-flows[excel]' (or write .csv/.parquet)") from exc
    component_columns = [c for c in table.columns if c.startswith("component_")]
    detail = table if keep_components else table.drop(columns=component_columns)
    parts = {segment: part.reset_index(drop=True) for segment, part in detail.groupby(key, sort=True)}
    names = sheet_names(list(parts), RESERVED)  # a segment never takes a fixed sheet's name
    with atomic_output(path, suffix=".xlsx") as tmp:
        book = xlsxwriter.Workbook(tmp, {"nan_inf_to_errors": True})
        writer = _Writer(book)
        summary_sheet = writer.sheet("summary", [])  # first sheet; filled once the segment sheets' rows are known
        yhat_cells = {segment: _segment_sheet(writer, names[segment], part) for segment, part in parts.items()}
        _summary(writer, summary_sheet, parts, yhat_cells, names, leaderboard, run, key)
        comps = table[table[component_columns].notna().any(axis=1)] if component_columns else table.iloc[0:0]
        _components(writer, comps, component_columns, yhat_cells, key)
        _bridges(writer, run, key)
        _audit(writer, *audit)
        book.close()
    return Path(path)


def _segment_sheet(writer: _Writer, name: str, part: pd.DataFrame) -> dict:
    """One segment's rows; returns where its champion's yhat cells are, by date."""
    sheet = writer.sheet(name, list(part.columns))
    kinds = [_kind(c) for c in part.columns]
    for r, row in enumerate(part.itertuples(index=False), start=1):
        for c, value in enumerate(row):
            writer.cell(sheet, r, c, value, kinds[c])
    champion = part["champion"].astype(bool).to_numpy() if "champion" in part.columns else np.ones(len(part), bool)
    rows = np.flatnonzero(champion) + 2  # spreadsheet rows (header is row 1)
    if len(rows) and not (np.diff(rows) == 1).all():
        raise ValueError(f"sheet {name!r}: the champion's rows are not together")
    column = column_letter(list(part.columns).index("yhat"))
    return {"sheet": name, "column": column, "first": int(rows[0]), "last": int(rows[-1]),
            "by_date": dict(zip(pd.to_datetime(part["ds"][champion]), rows)), "total": float(part["yhat"][champion].sum()),
            "rows": len(rows), "model": str(part["model"][champion].iloc[0]), "first_ds": pd.to_datetime(part["ds"][champion]).min(),
            "last_ds": pd.to_datetime(part["ds"][champion]).max()}


def _summary(writer, sheet, parts, cells, names, leaderboard, run, key) -> None:
    scores = {}
    if leaderboard is not None and not leaderboard.empty and "champion" in leaderboard:
        champions = leaderboard[leaderboard["champion"].astype(bool)]
        scores = {row[key]: row for row in champions.to_dict("records")}
    grades = {o.segment: o.forecastability for o in run.trained if o.forecastability is not None}
    columns = [key, "model", "first", "last", "periods", "forecast_total", *METRICS, "low_confidence", "forecastability", "forecastability_note"]
    sheet.write_row(0, 0, columns, writer.header)
    for i, column in enumerate(columns):
        sheet.set_column(i, i, 40 if column in ("low_confidence", "forecastability_note", key) else 14)
    for r, segment in enumerate(parts, start=1):
        where, score, grade = cells[segment], scores.get(segment, {}), grades.get(segment)
        values = [segment, where["model"], where["first_ds"].strftime("%Y-%m-%d"), where["last_ds"].strftime("%Y-%m-%d"), where["rows"]]
        for c, value in enumerate(values):
            writer.cell(sheet, r, c, value)
        writer.formula(sheet, r, 5, f"=SUM({quoted(where['sheet'])}!{where['column']}{where['first']}:{where['column']}{where['last']})", where["total"])
        for c, metric in enumerate(METRICS, start=6):
            writer.cell(sheet, r, c, score.get(metric), "metric")
        writer.cell(sheet, r, 9, score.get("low_confidence", ""))
        writer.cell(sheet, r, 10, grade.grade if grade else "")
        writer.cell(sheet, r, 11, grade.note if grade else "")
    sheet.autofilter(0, 0, len(parts), len(columns) - 1)


def _components(writer, comps: pd.DataFrame, component_columns: list[str], cells: dict, key: str) -> None:
    """Each explained period: its components, their sum (a formula), the segment sheet's yhat (a
    reference) and the difference (a formula; 0 when the components add up)."""
    columns = [key, "ds", *component_columns, "forecast", "yhat", "difference"]
    sheet = writer.sheet("components", columns)
    first, last = column_letter(2), column_letter(1 + len(component_columns))
    at = {name: 2 + len(component_columns) + i for i, name in enumerate(("forecast", "yhat", "difference"))}
    for r, row in enumerate(comps[[key, "ds", *component_columns, "yhat"]].itertuples(index=False), start=1):
        segment, ds, *values, yhat = row
        writer.cell(sheet, r, 0, segment)
        writer.cell(sheet, r, 1, pd.Timestamp(ds))
        for c, value in enumerate(values, start=2):
            writer.cell(sheet, r, c, value, "money")
        excel_row = r + 1
        writer.formula(sheet, r, at["forecast"], f"=SUM({first}{excel_row}:{last}{excel_row})", float(np.nansum(values)))
        where = cells[segment]
        source = f"={quoted(where['sheet'])}!{where['column']}{where['by_date'][pd.Timestamp(ds)]}"
        writer.formula(sheet, r, at["yhat"], source, yhat)
        forecast_cell, yhat_cell = column_letter(at["forecast"]), column_letter(at["yhat"])
        writer.formula(sheet, r, at["difference"], f"={forecast_cell}{excel_row}-{yhat_cell}{excel_row}", float(np.nansum(values)) - yhat)
    if len(comps):
        sheet.autofilter(0, 0, len(comps), len(columns) - 1)


def _bridges(writer, run, key) -> None:
    """Every segment's bridge as rows: last year's actual, each component's change, the forecast (a
    formula: the first plus the changes); then the waterfalls of the largest changes."""
    columns = [key, "step", "value", "kind", "first", "last", "periods", "horizon", "note"]
    sheet = writer.sheet("bridge", columns, {key: 30, "step": 22, "value": 16, "note": 60})
    r, charted = 1, []
    for outcome in run.trained:
        bridge = outcome.explanation.bridge if outcome.explanation is not None else None
        if bridge is None or not bridge.available:
            writer.cell(sheet, r, 0, outcome.segment)
            writer.cell(sheet, r, 8, bridge.note if bridge is not None else "not explained")
            r += 1
            continue
        start = r
        for step, value, kind in bridge.table.itertuples(index=False):
            for c, item in enumerate([outcome.segment, step, None, kind, bridge.first, bridge.last, bridge.periods, bridge.horizon, bridge.note]):
                writer.cell(sheet, r, c, item)
            if kind == "total" and r > start:  # the forecast: last year plus every change
                writer.formula(sheet, r, 2, f"=SUM(C{start + 1}:C{r})", value)
            else:
                writer.cell(sheet, r, 2, value, "money")
            r += 1
        change = float(bridge.table["value"].iloc[-1] - bridge.table["value"].iloc[0])
        charted.append((abs(change), outcome.segment, bridge))
    _waterfalls(writer, sorted(charted, key=lambda item: -item[0])[:WATERFALLS])


def _waterfalls(writer, charted) -> None:
    if not charted:
        return
    from forecasting.plots import close, png_bytes, waterfall_figure

    sheet = writer.book.add_worksheet("waterfalls")
    for i, (_, segment, bridge) in enumerate(charted):
        figure = waterfall_figure(segment, bridge.table, f"{bridge.first} .. {bridge.last} vs a year earlier", size=(7, 3.4))
        try:
            image = io.BytesIO(png_bytes(figure, dpi=80))
        finally:
            close(figure)
        sheet.insert_image(i * 18, 0, f"{segment}.png", {"image_data": image, "description": f"bridge {segment}"})


def _audit(writer, facts: list[tuple[str, str]], segments: pd.DataFrame) -> None:
    sheet = writer.sheet("audit", ["what", "value"], {"what": 34, "value": 90})
    for r, (label, value) in enumerate(facts, start=1):
        writer.cell(sheet, r, 0, label)
        writer.cell(sheet, r, 1, value)
    top = len(facts) + 2
    sheet.write_row(top, 0, list(segments.columns), writer.header)
    for r, row in enumerate(segments.itertuples(index=False), start=top + 1):
        for c, value in enumerate(row):
            writer.cell(sheet, r, c, value)
