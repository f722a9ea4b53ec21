"""The forecast table as a Delta table in Unity Catalog, written through a SQL warehouse (Statement
Execution API). A vintage goes to a per-run staging table in chunks of parameterized INSERTs, then into
the table in ONE statement, ``INSERT INTO … REPLACE WHERE run_id = …`` (one atomic Delta commit): a retry
replaces the run's rows, and a writer killed before that statement leaves the table untouched."""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

from forecasting.errors import SourceError
from forecasting.forecast_table.schema import COLUMNS, KINDS, LATEST_SUFFIX, NAMES
from forecasting.sources.databricks import DatabricksLocation, parse_location

TYPES = {"text": "STRING", "float": "DOUBLE", "date": "DATE", "timestamp": "TIMESTAMP", "boolean": "BOOLEAN"}
CHUNK_ROWS = 200  # rows per INSERT: 200 x 23 parameters per statement
PROBE_RUN = "permission-probe"


class DatabricksForecastTable:
    """Vintages in the Delta table ``databricks://catalog.schema.table`` (warehouse and profile as for
    Databricks sources: :mod:`forecasting.sources.databricks`)."""

    def __init__(self, url: str, poll_seconds: float = 1.0):
        self.location: DatabricksLocation = parse_location(url)
        if not self.location.table:
            raise ValueError(f"{url}: name the forecast table: databricks://catalog.schema.table")
        self.where = f"databricks table {self.location.table}"
        self.poll_seconds = poll_seconds

    def write(self, vintage: pd.DataFrame, chunk_rows: int = CHUNK_ROWS, progress: Callable[[int, int], None] | None = None) -> int:
        """Stage the vintage in chunks, then replace the run's rows in one atomic statement."""
        run_ids = vintage["run_id"].unique()
        if len(run_ids) != 1:
            raise ValueError(f"a vintage is one run's rows; got {len(run_ids)} run ids")
        warehouse = self._ensure()
        staging = self._staging(run_ids[0])
        warehouse.run(f"CREATE OR REPLACE TABLE {staging} ({self._columns()})")
        chunks = max(1, math.ceil(len(vintage) / chunk_rows))
        for index in range(chunks):
            part = vintage.iloc[index * chunk_rows:(index + 1) * chunk_rows]
            if len(part):
                statement, parameters = insert_statement(staging, part)
                warehouse.run(statement, parameters)
            if progress is not None:
                progress(index + 1, chunks)
        warehouse.run(f"INSERT INTO {self._table()} REPLACE WHERE run_id = :run_id SELECT {', '.join(NAMES)} FROM {staging}",
                      [{"name": "run_id", "value": run_ids[0], "type": "STRING"}])
        warehouse.run(f"DROP TABLE IF EXISTS {staging}")
        return len(vintage)

    def check_writable(self) -> None:
        """Create the table and view when missing, then an empty replace of a probe run: a principal
        without MODIFY on the table fails here, before any training."""
        warehouse = self._ensure()
        warehouse.run(f"INSERT INTO {self._table()} REPLACE WHERE run_id = :run_id SELECT {', '.join(NAMES)} FROM {self._table()} WHERE 1 = 0",
                      [{"name": "run_id", "value": PROBE_RUN, "type": "STRING"}])

    def read(self, segments: list[str] | None = None, start: str | None = None, end: str | None = None,
             champion_only: bool = True) -> pd.DataFrame:
        """Vintage rows (every run), optionally for some segments and forecast dates in ``[start, end]``."""
        warehouse = self._warehouse()
        where, parameters = ["champion"] if champion_only else [], []
        if start:
            where.append("ds >= :start")
            parameters.append({"name": "start", "value": start, "type": "DATE"})
        if end:
            where.append("ds <= :end")
            parameters.append({"name": "end", "value": end, "type": "DATE"})
        if segments is not None:
            names = [f"s{i}" for i in range(len(segments))]
            where.append(f"segment IN ({', '.join(':' + n for n in names)})" if names else "1 = 0")
            parameters += [{"name": n, "value": s, "type": "STRING"} for n, s in zip(names, segments)]
        try:
            response = warehouse.run(f"SELECT {', '.join(NAMES)} FROM {self._table()}" + (f" WHERE {' AND '.join(where)}" if where else ""),
                                     parameters, disposition=self.location.disposition)
        except SourceError as exc:
            if "TABLE_OR_VIEW_NOT_FOUND" in str(exc):  # no run has written a vintage yet
                return pd.DataFrame(columns=NAMES)
            raise
        frames = [f for f in warehouse.frames(response) if len(f)]
        if not frames:
            return pd.DataFrame(columns=NAMES)
        frame = pd.concat(frames, ignore_index=True)
        for name in NAMES:
            if KINDS[name] == "float":
                frame[name] = pd.to_numeric(frame[name], errors="coerce")
            elif KINDS[name] == "boolean":
                frame[name] = frame[name].map(lambda v: v if isinstance(v, bool) else str(v).lower() == "true")
        return frame

    # --- internals -------------------------------------------------------------------------------
    def _warehouse(self):
        return self.location.warehouse(self.where, self.poll_seconds)

    def _ensure(self):
        warehouse = self._warehouse()
        warehouse.run(f"CREATE TABLE IF NOT EXISTS {self._table()} ({self._columns()}) USING DELTA "
                      "COMMENT 'Forecast vintages written by finance-forecast-flows: one run_id per run'")
        view = self._quote(self.location.table + LATEST_SUFFIX)
        warehouse.run(f"CREATE VIEW IF NOT EXISTS {view} AS SELECT {', '.join(NAMES)} FROM ("
                      f"SELECT *, ROW_NUMBER() OVER (PARTITION BY segment, ds ORDER BY created_at DESC, run_id DESC) AS vintage_rank "
                      f"FROM {self._table()} WHERE champion) ranked WHERE vintage_rank = 1")
        return warehouse

    def _columns(self) -> str:
        return ", ".join(f"{c.name} {TYPES[c.kind]}{'' if c.nullable else ' NOT NULL'}" for c in COLUMNS)

    def _table(self) -> str:
        return self._quote(self.location.table)

    def _staging(self, run_id: str) -> str:
        return self._quote(f"{self.location.table}__staging_{run_id[:16]}".replace("-", "_"))

    @staticmethod
    def _quote(name: str) -> str:
        return ".".join(f"`{part}`" for part in name.split("."))


def insert_statement(table: str, rows: pd.DataFrame) -> tuple[str, list[dict]]:
    """``INSERT INTO table VALUES (:r0_c0, …), …`` with one typed parameter per cell (a missing value is NULL)."""
    values, parameters = [], []
    for r, row in enumerate(rows[NAMES].itertuples(index=False, name=None)):
        names = []
        for c, (name, value) in enumerate(zip(NAMES, row)):
            marker = f"r{r}_c{c}"
            names.append(f":{marker}")
            parameters.append({"name": marker, "value": _rendered(value, KINDS[name]), "type": TYPES[KINDS[name]]})
        values.append(f"({', '.join(names)})")
    return f"INSERT INTO {table} ({', '.join(NAMES)}) VALUES {', '.join(values)}", parameters


def _rendered(value, kind: str) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if kind == "boolean":
        return "true" if bool(value) else "false"
    if kind == "timestamp":
        stamp = pd.Timestamp(value)
        return (stamp.tz_convert("UTC") if stamp.tzinfo else stamp).strftime("%Y-%m-%d %H:%M:%S.%f")
    if kind == "date":
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    if kind == "float":
        return repr(float(value))
    return str(value)
