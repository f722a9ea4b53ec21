"""The forecast table: where forecasts are consumed from (Power BI, Tableau, Databricks SQL dashboards),
with their history. Every run appends its vintage (rows + lineage: run_id, as_of, created_at, model,
model_version, data_fingerprint) to a table with a fixed schema (:mod:`.schema`), in a SQL database or a
Unity Catalog Delta table; a ``<table>_latest`` view gives the latest forecast per segment and date:

    SELECT * FROM forecasts_latest WHERE segment = '…' ORDER BY ds;

and "what did we forecast for March in January?" is a query over the vintages:

    SELECT * FROM forecasts WHERE ds BETWEEN '2025-03-01' AND '2025-03-31'
      AND created_at < '2025-02-01' AND champion ORDER BY created_at DESC;
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from forecasting.forecast_table.schema import COLUMNS, NAMES, Lineage, new_run_id, vintage_frame
from forecasting.sources import source_kind
from forecasting.sources.credentials import Credentials, redact, url_password


class ForecastTableTarget(BaseModel):
    """Where vintages go: a SQLAlchemy URL plus a table name, or ``databricks://catalog.schema.table``."""

    url: str = Field(..., description="postgresql+psycopg://user@host/db (no password), sqlite:///file.db, or databricks://catalog.schema.table")
    table: str | None = Field(None, description="SQL databases: the forecast table, schema.name or name")

    @model_validator(mode="after")
    def _named(self) -> "ForecastTableTarget":
        kind = source_kind(self.url)
        if kind == "file":
            raise ValueError(f"{self.url}: a forecast table needs a database URL or databricks://catalog.schema.table")
        if kind == "sql":
            if url_password(self.url):
                raise ValueError(f"{redact(self.url)}: the URL carries a password; put it in the environment (PGPASSWORD, "
                                 "FORECAST_FLOWS_SQL_PASSWORD) or a credentials block, never in a URL")
            if not self.table:
                raise ValueError(f"{redact(self.url)}: name the forecast table (--output-table forecasts)")
        if kind == "databricks":
            if self.table:
                raise ValueError(f"{self.url}: the Databricks forecast table is named in the URL: databricks://catalog.schema.table")
            from forecasting.sources.databricks import parse_location

            if not parse_location(self.url).table:
                raise ValueError(f"{self.url}: name the forecast table: databricks://catalog.schema.table")
        return self

    def describe(self) -> str:
        return f"{redact(self.url)} table {self.table}" if self.table else redact(self.url)


def open_table(target: ForecastTableTarget, credentials: Credentials | None = None, poll_seconds: float = 1.0):
    """The forecast table at ``target``: ``write(vintage)``, ``check_writable()``, ``read(...)``."""
    if source_kind(target.url) == "databricks":
        from forecasting.forecast_table.databricks import DatabricksForecastTable

        return DatabricksForecastTable(target.url, poll_seconds)
    from forecasting.forecast_table.sql import SqlForecastTable

    return SqlForecastTable(target.url, target.table, credentials)


__all__ = ["COLUMNS", "NAMES", "ForecastTableTarget", "Lineage", "new_run_id", "open_table", "vintage_frame"]
