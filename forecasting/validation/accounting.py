"""Every input row of a segment accounted for on its way to the model: the ledger follows each row (by
its spreadsheet row number) through the window, aggregation, duplicates and the future rows, and
records why any row did not arrive and every value that was created or changed on the way."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from forecasting.validation.report import RowAccounting, RowDrop, ValueChange

SAMPLE_DATES = 10  # dates listed per change (the count is always complete)


class Ledger:
    """The rows of one segment still on their way to the model. ``rows``: their spreadsheet row
    numbers; ``dates``: each row's date (for the reports), once parsed."""

    def __init__(self, rows: Iterable[int]):
        self.alive: set[int] = {int(r) for r in rows}
        self.accounting = RowAccounting(rows_read=len(self.alive))
        self._members: dict[int, list[int]] = {}  # an aggregated period (by its first row) -> every row in it
        self._dates: dict[int, pd.Timestamp] = {}

    def dated(self, rows: pd.Series, dates: pd.Series) -> None:
        """Remember each row's date."""
        self._dates.update(zip((int(r) for r in rows), pd.DatetimeIndex(dates)))

    def group(self, representative: int, members: Iterable[int]) -> None:
        """Rows aggregated into one period, from now on named by ``representative``."""
        self._members[int(representative)] = [int(m) for m in members]

    def expand(self, rows: Iterable) -> set[int]:
        out: set[int] = set()
        for row in rows:
            if pd.isna(row):
                continue
            out.update(self._members.get(int(row), [int(row)]))
        return out & self.alive

    def drop(self, reason: str, rows: Iterable, detail: str = "") -> int:
        """Rows (or aggregated periods, by their first row) that will not reach the model."""
        gone = self.expand(rows)
        if not gone:
            return 0
        self.alive -= gone
        dates = sorted(self._dates[r] for r in gone if r in self._dates)
        first, last = (str(dates[0].date()), str(dates[-1].date())) if dates else (None, None)
        self.accounting.drops.append(RowDrop(reason=reason, rows=len(gone), first=first, last=last, detail=detail))
        return len(gone)

    def merge(self, rows: Iterable, how: str) -> None:
        """Rows combined into another row of the same period (duplicates)."""
        gone = self.expand(rows)
        self.alive -= gone
        self.accounting.rows_merged += len(gone)
        self.accounting.merged_by = how

    def change(self, column: str, what: str, count: int, method: str, dates: Iterable = ()) -> None:
        """Values of ``column`` the tool created or changed: ``count`` of them, by ``method``."""
        if count <= 0:
            return
        shown = [str(pd.Timestamp(d).date()) for d in list(dates)[:SAMPLE_DATES]]
        self.accounting.changes.append(ValueChange(column=column, what=what, count=int(count), method=method, dates=shown))

    def fail(self, reason: str) -> RowAccounting:
        """The segment is not forecast: every row still on its way is dropped with ``reason``."""
        self.drop("segment_not_forecast", list(self.alive), reason[:300])
        return self.close()

    def close(self) -> RowAccounting:
        self.accounting.rows_used = len(self.alive)
        return self.accounting
