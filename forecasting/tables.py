"""Tables in and out: CSV (delimiter sniffed), Parquet; every write goes through a temporary file."""

from __future__ import annotations

import contextlib
import csv
import os
import tempfile
from pathlib import Path

import pandas as pd

from forecasting.errors import DataError

DELIMITERS = [",", ";", "\t", "|"]


def read_table(path: str | Path, delimiter: str = "auto") -> pd.DataFrame:
    """Read a CSV or Parquet table with every cell kept as read (validation parses types)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {str(path)!r} does not exist")
    if path.suffix.lower() in {".parquet", ".pq"}:
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types for a broken file
            raise DataError(f"{path.name}: not a readable Parquet file ({exc})") from exc
    else:
        frame = _read_csv(path, delimiter)
    if frame.empty:
        raise DataError(f"{path.name}: the table has a header but no data rows")
    return frame


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
