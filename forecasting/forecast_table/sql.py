"""The forecast table in a SQL database (SQLAlchemy): created on first write with the fixed schema and a
``<table>_latest`` view; a vintage is written in ONE transaction that first deletes the run's own rows, so
a retry replaces them and a writer killed mid-way leaves nothing (the database rolls the transaction back)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pandas as pd

from forecasting.errors import SourceError
from forecasting.forecast_table.schema import COLUMNS, LATEST_SUFFIX, NAMES
from forecasting.sources.credentials import Credentials, redact
from forecasting.sources.sql import database_message, engine_for
from forecasting.system.transient import is_transient

CHUNK_ROWS = 5_000
PROBE_RUN = "permission-probe"


def table_for(name: str, metadata):
    """The forecast table as SQLAlchemy metadata: ``schema.name`` or ``name``."""
    from sqlalchemy import Boolean, Column, Date, DateTime, Float, Table, Text

    types = {"text": Text, "float": Float, "date": Date, "timestamp": lambda: DateTime(timezone=True), "boolean": Boolean}
    parts = name.split(".")
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise SourceError(f"forecast table {name!r}: give schema.name or name")
    return Table(parts[-1], metadata, *[Column(c.name, types[c.kind](), nullable=c.nullable, comment=c.doc or None) for c in COLUMNS],
                 schema=parts[0] if len(parts) == 2 else None)


class SqlForecastTable:
    """Vintages in ``table`` of the database at ``url`` (no password in the URL: see
    :mod:`forecasting.sources.credentials`)."""

    def __init__(self, url: str, table: str, credentials: Credentials | None = None):
        from sqlalchemy import MetaData

        self.url, self.name, self.credentials = url, table, credentials
        self.metadata = MetaData()
        self.table = table_for(table, self.metadata)
        self.where = f"{redact(url)} table {table}"
        self.secrets = (credentials or Credentials.from_environment() or Credentials()).secrets()

    def write(self, vintage: pd.DataFrame, chunk_rows: int = CHUNK_ROWS, progress: Callable[[int, int], None] | None = None) -> int:
        """Write one run's vintage (every row carries the same run_id) in one transaction: the run's
        earlier rows are deleted first. ``progress(chunks written, chunks)`` after each chunk. Returns rows."""
        run_ids = vintage["run_id"].unique()
        if len(run_ids) != 1:
            raise ValueError(f"a vintage is one run's rows; got {len(run_ids)} run ids")
        records = _records(vintage)
        chunks = [records[i:i + chunk_rows] for i in range(0, len(records), chunk_rows)]
        with self._transaction("write") as connection:
            self._delete_run(connection, run_ids[0])
            for done, chunk in enumerate(chunks, 1):
                connection.execute(self.table.insert(), chunk)
                if progress is not None:
                    progress(done, len(chunks))
        return len(records)

    def check_writable(self) -> None:
        """Create the table and view when missing, delete and insert a probe row, then roll it all back:
        a role that may not write fails here, before any training."""
        probe = {name: None for name in NAMES} | {"run_id": PROBE_RUN, "origin": PROBE_RUN, "segment": PROBE_RUN, "champion": True,
                                                   "created_at": pd.Timestamp.now(tz="UTC").to_pydatetime(), "ds": pd.Timestamp("2000-01-01").date()}
        with self._transaction("write", commit=False) as connection:
            self._delete_run(connection, PROBE_RUN)
            connection.execute(self.table.insert(), [probe])

    def read(self, segments: list[str] | None = None, start: str | None = None, end: str | None = None,
             champion_only: bool = True) -> pd.DataFrame:
        """Vintage rows (every run), optionally for some segments and forecast dates in ``[start, end]``;
        an empty frame when the table does not exist yet."""
        from sqlalchemy import inspect, select
        from sqlalchemy.exc import SQLAlchemyError

        t = self.table
        query = select(t)
        if champion_only:
            query = query.where(t.c.champion.is_(True))
        if segments is not None:
            query = query.where(t.c.segment.in_(list(segments)))
        if start:
            query = query.where(t.c.ds >= pd.Timestamp(start).date())
        if end:
            query = query.where(t.c.ds <= pd.Timestamp(end).date())
        engine = engine_for(self.url, self.credentials)
        try:
            with engine.connect() as connection:
                if not inspect(connection).has_table(t.name, schema=t.schema):
                    return pd.DataFrame(columns=NAMES)
                return pd.read_sql(query, connection)
        except SQLAlchemyError as exc:
            raise SourceError(f"{self.where}: cannot read the forecast table: {database_message(exc, self.secrets)}") from None
        finally:
            engine.dispose()

    # --- internals -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self, what: str, commit: bool = True):
        """Connect, ensure the table and view, run the body in one transaction (committed, or rolled back
        when ``commit`` is false or the body fails); every database error one line naming the table."""
        from sqlalchemy.exc import SQLAlchemyError

        engine = engine_for(self.url, self.credentials)
        try:
            try:
                connection = engine.connect()
            except SQLAlchemyError as exc:
                raise SourceError(f"{self.where}: cannot connect: {database_message(exc, self.secrets)}", is_transient(exc)) from None
            with connection:
                transaction = connection.begin()
                try:
                    self._ensure(connection)
                    yield connection
                    transaction.commit() if commit else transaction.rollback()
                except SQLAlchemyError as exc:
                    _quietly(transaction.rollback)
                    raise SourceError(f"{self.where}: cannot {what}: {database_message(exc, self.secrets)}", is_transient(exc)) from None
                except BaseException:
                    _quietly(transaction.rollback)
                    raise
        finally:
            engine.dispose()

    def _ensure(self, connection) -> None:
        """The table (fixed schema) and the latest-vintage view, when missing; an existing table that
        lacks a column of the schema is refused rather than written wrongly."""
        from sqlalchemy import inspect, table

        inspector = inspect(connection)
        if not inspector.has_table(self.table.name, schema=self.table.schema):
            self.table.create(connection)
        else:
            found = {c["name"] for c in inspector.get_columns(self.table.name, schema=self.table.schema)}
            missing = [n for n in NAMES if n not in found]
            if missing:
                raise SourceError(f"{self.where}: the table exists without the forecast table's column(s) {', '.join(missing)}; "
                                  "use a new table name")
        view = self.table.name + LATEST_SUFFIX
        if view not in inspector.get_view_names(schema=self.table.schema):
            quoted = connection.dialect.identifier_preparer.format_table(table(view, schema=self.table.schema))
            connection.exec_driver_sql(f"CREATE VIEW {quoted} AS {latest_query(self.table, connection.dialect)}")

    def _delete_run(self, connection, run_id: str) -> None:
        connection.execute(self.table.delete().where(self.table.c.run_id == run_id))


def latest_query(table, dialect) -> str:
    """The latest champion forecast per segment and date, across every vintage: the view's query."""
    from sqlalchemy import func, select

    rank = func.row_number().over(partition_by=[table.c.segment, table.c.ds], order_by=[table.c.created_at.desc(), table.c.run_id.desc()])
    ranked = select(table, rank.label("vintage_rank")).where(table.c.champion.is_(True)).subquery("ranked")
    query = select(*[ranked.c[name] for name in NAMES]).where(ranked.c.vintage_rank == 1)
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def _quietly(action) -> None:
    try:
        action()
    except Exception:  # the connection is gone: the database rolls back on its own
        pass


def _records(vintage: pd.DataFrame) -> list[dict]:
    """Rows as plain Python values (NaN as NULL) for the driver."""
    frame = vintage[NAMES].astype(object).where(vintage[NAMES].notna(), None)
    return frame.to_dict("records")
