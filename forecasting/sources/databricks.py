"""Unity Catalog tables as data sources: ``databricks://catalog.schema.table`` (or ``databricks://`` with a
query), read through a SQL warehouse with the workspace auth the serving target uses.

The warehouse is ``?warehouse_id=…`` on the URL or DATABRICKS_WAREHOUSE_ID; ``?profile=NAME`` picks a
~/.databrickscfg profile (default: the environment); ``?disposition=inline`` reads INLINE JSON_ARRAY
chunks (at most 25 MiB: for workspaces that block external links) instead of EXTERNAL_LINKS in Arrow."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from forecasting.errors import SourceError
from forecasting.sources.cells import as_cells
from forecasting.sources.sql import check_required
from forecasting.sources.warehouse import EXTERNAL_LINKS, INLINE, Warehouse

WAREHOUSE_ENV = "DATABRICKS_WAREHOUSE_ID"
_NAME = re.compile(r"^[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+$")


@dataclass(frozen=True)
class DatabricksLocation:
    table: str | None  # catalog.schema.name
    warehouse_id: str | None
    profile: str | None
    disposition: str

    def quoted_table(self) -> str:
        return ".".join(f"`{part}`" for part in (self.table or "").split("."))

    def warehouse(self, where: str, poll_seconds: float = 1.0) -> Warehouse:
        from forecasting.system.databricks import workspace_client

        warehouse_id = self.warehouse_id or os.environ.get(WAREHOUSE_ENV)
        if not warehouse_id:
            raise SourceError(f"{where}: no SQL warehouse: add ?warehouse_id=ID to the URL or set {WAREHOUSE_ENV}")
        return Warehouse(workspace_client(self.profile, retry_timeout_seconds=120), warehouse_id, where, poll_seconds)


def parse_location(location: str, table: str | None = None, query: str | None = None) -> DatabricksLocation:
    """``databricks://catalog.schema.table?warehouse_id=…&profile=…&disposition=inline``: the table from
    the URL or ``table`` (a query needs neither)."""
    parts = urlsplit(location)
    options = {k.lower(): v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = sorted(set(options) - {"warehouse_id", "profile", "disposition"})
    if unknown:
        raise ValueError(f"{location}: unknown option {unknown[0]!r} (warehouse_id, profile, disposition)")
    name = parts.netloc + parts.path.rstrip("/") if parts.netloc else None
    if name and table and name != table:
        raise ValueError(f"{location}: the URL names table {name} and the table option {table}; give one")
    name = name or table
    if name and query:
        raise ValueError(f"{location}: give a table or a query, not both")
    if not name and not query:
        raise ValueError(f"{location}: name a table (databricks://catalog.schema.table) or give a query")
    if name and not _NAME.match(name):
        raise ValueError(f"{location}: {name!r} is not catalog.schema.table")
    disposition = options.get("disposition", "external_links").upper()
    if disposition not in (INLINE, EXTERNAL_LINKS):
        raise ValueError(f"{location}: disposition must be inline or external_links, got {options['disposition']!r}")
    return DatabricksLocation(name, options.get("warehouse_id"), options.get("profile"), disposition)


def read_databricks_source(source, required: list[str] | None = None, poll_seconds: float = 1.0) -> pd.DataFrame:
    """The rows of the table or query, chunk by chunk, through the Statement Execution API."""
    where = source.describe()
    location = parse_location(source.location, source.table, source.query)
    warehouse = location.warehouse(where, poll_seconds)
    statement = source.query or f"SELECT * FROM {location.quoted_table()}"
    response = warehouse.run(statement, disposition=location.disposition)
    frames = []
    columns = [c.name for c in response.manifest.schema.columns or []] if response.manifest and response.manifest.schema else []
    check_required(pd.DataFrame(columns=columns), required, where)
    for chunk in warehouse.frames(response):
        if len(chunk):
            frames.append(as_cells(chunk))
    if not frames:
        raise SourceError(f"{where}: the {'query' if source.query else 'table'} returned no rows")
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
