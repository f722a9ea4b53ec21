"""SQL sources through SQLAlchemy: any database with a SQLAlchemy dialect, read in chunks on a
server-side cursor (``stream_results``) so a large table is never held twice, driver rows and frames."""

from __future__ import annotations

import re

import pandas as pd

from forecasting.errors import SourceError
from forecasting.sources.cells import as_cells
from forecasting.sources.credentials import Credentials, connection_url, redact
from forecasting.system.transient import is_transient

CHUNK_ROWS = 50_000
CONNECT_TIMEOUT_SECONDS = 30


def engine_for(location: str, credentials: Credentials | None = None):
    """A SQLAlchemy engine for ``location`` with the credentials (or the environment's password); a
    connect timeout for PostgreSQL so an unreachable host fails in seconds, not minutes."""
    from sqlalchemy import create_engine

    url = connection_url(location, credentials)
    connect_args = {}
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    return create_engine(url, connect_args=connect_args, pool_pre_ping=False)


def table_clause(name: str):
    """``schema.name`` or ``name`` as a SQLAlchemy table (quoted by the dialect where needed)."""
    from sqlalchemy import table

    parts = name.split(".")
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise SourceError(f"table {name!r}: give schema.name or name")
    return table(parts[-1], schema=parts[0] if len(parts) == 2 else None)


def read_sql_source(source, credentials: Credentials | None = None, required: list[str] | None = None,
                    chunk_rows: int = CHUNK_ROWS) -> pd.DataFrame:
    """The rows of ``source.query`` or ``source.table``, chunk by chunk; every failure one line naming the
    source (password redacted): unreachable, refused, a failing query, no rows, missing columns."""
    from sqlalchemy import literal_column, select, text
    from sqlalchemy.exc import SQLAlchemyError

    where = source.describe()
    secrets = (credentials or Credentials.from_environment() or Credentials()).secrets()
    engine = engine_for(source.location, credentials)
    try:
        try:
            connection = engine.connect()
        except SQLAlchemyError as exc:
            raise SourceError(f"{where}: cannot connect: {database_message(exc, secrets)}", is_transient(exc)) from None
        with connection:
            streaming = connection.execution_options(stream_results=True, max_row_buffer=chunk_rows)
            statement = text(source.query) if source.query else select(literal_column("*")).select_from(table_clause(source.table))
            frames = []
            try:
                for chunk in pd.read_sql(statement, streaming, chunksize=chunk_rows):
                    if not frames:
                        check_required(chunk, required, where)
                    if len(chunk):
                        frames.append(as_cells(chunk))
            except SQLAlchemyError as exc:
                raise SourceError(f"{where}: the {'query' if source.query else 'read'} failed: {database_message(exc, secrets)}") from None
    finally:
        engine.dispose()
    if not frames:
        raise SourceError(f"{where}: the {'query' if source.query else 'table'} returned no rows")
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def check_required(frame: pd.DataFrame, required: list[str] | None, where: str) -> None:
    missing = [c for c in (required or []) if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns[:12]))
        raise SourceError(f"{where}: missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}; "
                          f"found columns: {found or '(none)'}")


def database_message(exc: BaseException, secrets: list[str] = ()) -> str:
    """The database's own words on one line (the driver's message, not SQLAlchemy's wrapper with the
    statement and a documentation link), URL passwords and known secrets redacted."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).split("\n[SQL:")[0].split("\n(Background on this error")[0]
    text = re.sub(r"\s+", " ", text).strip()
    return redact(text, secrets) or type(original).__name__
