"""Where a table comes from, behind one surface: a file (CSV, Parquet, Excel), a SQL database (any
SQLAlchemy URL with a query or a table), or a Unity Catalog table read through a Databricks SQL warehouse
(``databricks://catalog.schema.table``). :func:`read_source` returns every cell as read; validation parses
types, the same way for every kind of source."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field, model_validator

from forecasting.errors import ConfigError
from forecasting.sources.credentials import Credentials, redact
from forecasting.tables import read_table

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
DATABRICKS_SCHEME = "databricks://"
SourceKind = Literal["file", "sql", "databricks"]


def source_kind(location: str) -> SourceKind:
    """``databricks://…`` is a Unity Catalog table, any other ``scheme://…`` a SQLAlchemy URL, the rest a file."""
    text = str(location).strip()
    if text.lower().startswith(DATABRICKS_SCHEME):
        return "databricks"
    if _URL.match(text) and not text.lower().startswith("file://"):
        return "sql"
    return "file"


class DataSource(BaseModel):
    """A table to read: a file path, or a URL with a query or a table. URLs never carry a password:
    credentials come from the environment or a credentials block (see :mod:`forecasting.sources.credentials`)."""

    location: str = Field(..., description="a file path, a SQLAlchemy URL (postgresql+psycopg://user@host/db, sqlite:///file.db, ...) "
                                           "or databricks://catalog.schema.table")
    query: str | None = Field(None, description="SQL sources: a SELECT whose rows are the table")
    table: str | None = Field(None, description="SQL sources: a table or view, schema.name or name (Databricks: catalog.schema.name)")
    delimiter: str = Field("auto", description="CSV files: the delimiter")
    sheet: str | int | None = Field(None, description="Excel files: the sheet name, or its position from 0")

    @model_validator(mode="after")
    def _one_way_to_read(self) -> "DataSource":
        kind = self.kind
        where = redact(self.location)
        if kind == "file":
            if self.query or self.table:
                raise ValueError(f"{where} is a file: query and table are for SQL or databricks:// sources")
            return self
        if self.query and self.table:
            raise ValueError(f"{where}: give a query or a table, not both")
        if kind == "sql":
            from forecasting.sources.credentials import url_password

            if url_password(self.location):
                raise ValueError(f"{where}: the URL carries a password; put it in the environment (PGPASSWORD or ~/.pgpass for "
                                 "PostgreSQL, FORECAST_FLOWS_SQL_PASSWORD for any database) or a credentials block, never in a URL")
            if not (self.query or self.table):
                raise ValueError(f"{where}: a SQL source needs a query (--query \"SELECT ...\") or a table (--table schema.name)")
        if kind == "databricks":
            from forecasting.sources.databricks import parse_location

            parse_location(self.location, self.table, self.query)  # raises on a malformed name
        return self

    @property
    def kind(self) -> SourceKind:
        return source_kind(self.location)

    def describe(self) -> str:
        """How messages name this source: the location (password redacted) and the table, if any."""
        where = redact(self.location)
        if self.kind == "file":
            return Path(self.location).name
        return f"{where} table {self.table}" if self.table else where

    @classmethod
    def of(cls, source: "DataSource | str | Path", **fields) -> "DataSource":
        """A source from a model, or from a bare path or URL plus its query/table/delimiter/sheet."""
        if isinstance(source, DataSource):
            return source
        return cls(location=str(source), **{k: v for k, v in fields.items() if v is not None})


def read_source(source: DataSource | str | Path, credentials: Credentials | None = None, required: list[str] | None = None,
                **fields) -> pd.DataFrame:
    """Read a file, a SQL query or table, or a Unity Catalog table: every cell as read (text, numbers,
    dates as ISO text), one line naming the source for anything that goes wrong.

    Args:
        source: a :class:`DataSource`, or a path/URL with ``query``, ``table``, ``delimiter``, ``sheet`` as keywords.
        credentials: the user and password of a SQL source, from a credentials block (default: the
            environment, see :func:`forecasting.sources.credentials.Credentials.from_environment`).
        required: columns the table must have; a SQL or Databricks source is checked on its first rows,
            before the rest is streamed.
    """
    source = DataSource.of(source, **fields)
    if source.kind == "file":
        return read_table(source.location, source.delimiter, source.sheet)
    if source.kind == "sql":
        from forecasting.sources.sql import read_sql_source

        return read_sql_source(source, credentials, required)
    from forecasting.sources.databricks import read_databricks_source

    if credentials is not None:
        raise ConfigError(f"{source.describe()}: Databricks sources authenticate like the serving target (DATABRICKS_HOST/TOKEN "
                          "or a ~/.databrickscfg profile), not with a SQL credentials block")
    return read_databricks_source(source, required)


__all__ = ["Credentials", "DataSource", "read_source", "redact", "source_kind"]
