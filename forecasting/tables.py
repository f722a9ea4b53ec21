"""Tables in and out: CSV (delimiter sniffed), Parquet; every write goes through a temporary file."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import tempfile
from pathlib import Path

import pandas as pd

from forecasting.errors import DataError

DELIMITERS = [",", ";", "\t", "|"]


EXCEL_SUFFIXES = (".xlsx", ".xlsm")


def read_table(path: str | Path, delimiter: str = "auto", sheet: str | int | None = None) -> pd.DataFrame:
    """Read a CSV, Parquet or Excel (.xlsx) table with every cell kept as read (validation parses
    types). ``sheet``: an Excel sheet by name, or by position from 0 (default: the first)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix in {".parquet", ".pq"}:
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types for a broken file
            raise DataError(f"{path.name}: not a readable Parquet file ({exc})") from exc
    elif suffix in EXCEL_SUFFIXES:
        frame = _read_excel(path, sheet)
    elif suffix == ".xls":
        raise DataError(f"{path.name}: the old .xls format is not read; save it as .xlsx or .csv")
    else:
        if _looks_like_zip(path):
            raise DataError(f"{path.name}: this is a spreadsheet (zip) file, not a CSV; name it .xlsx")
        frame = _read_csv(path, delimiter)
    if frame.empty:
        raise DataError(f"{path.name}: the table has a header but no data rows")
    return frame


def _read_excel(path: Path, sheet: str | int | None) -> pd.DataFrame:
    """One sheet, cells as typed in Excel: numbers stay numbers, text stays text, and date cells become
    ISO dates (``2024-01-31``, with the time only when there is one)."""
    try:
        import openpyxl  # noqa: F401
    except ImportError as exc:
        raise DataError("reading .xlsx needs the 'excel' extra: pip install 'finance-forecast-flows[excel]'") from exc
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:  # a corrupt or non-Excel file raises many types
        raise DataError(f"{path.name}: not a readable .xlsx file ({type(exc).__name__}: {exc})") from exc
    names = book.sheet_names
    if sheet is None or sheet == "":
        chosen = names[0]
    elif isinstance(sheet, int) or str(sheet).isdigit():
        index = int(sheet)
        if index >= len(names):
            raise DataError(f"{path.name}: no sheet number {index} (sheets, from 0: {', '.join(names)})")
        chosen = names[index]
    elif sheet in names:
        chosen = sheet
    else:
        raise DataError(f"{path.name}: no sheet {sheet!r}; sheets: {', '.join(names)}")
    frame = book.parse(chosen, dtype=object)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.apply(_dates_as_text).dropna(how="all")


def _dates_as_text(column: pd.Series) -> pd.Series:
    """Date cells (datetime objects) as ISO text; everything else untouched."""
    def as_text(value):
        if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
            stamp = pd.Timestamp(value)
            return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.isoformat()
        return value

    return column.map(as_text)


def _looks_like_zip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def _read_csv(path: Path, delimiter: str) -> pd.DataFrame:
    head = path.read_text(encoding="utf-8-sig", errors="replace")[:20_000]
    if not head.strip():
        raise DataError(f"{path.name}: the file is empty")
    sep = _sniff_delimiter(head) if delimiter == "auto" else delimiter
    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=True, encoding="utf-8-sig")
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path.name}: the file is empty") from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"{path.name}: not a well-formed table with delimiter {sep!r} ({exc})") from exc


def _sniff_delimiter(head: str) -> str:
    header = head.splitlines()[0]
    try:
        return csv.Sniffer().sniff(head, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


@contextlib.contextmanager
def atomic_output(path: str | Path, suffix: str = ".tmp"):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on failure it is removed,
    so a failure leaves nothing half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write CSV or Parquet (by suffix) through a temporary file (see :func:`atomic_output`)."""
    path = Path(path)
    with atomic_output(path) as tmp:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
    return path


def write_json(payload, path: str | Path) -> Path:
    """JSON through a temporary file (see :func:`atomic_output`)."""
    import json

    path = Path(path)
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(payload, indent=1, default=str))
    return path
