"""Thin Prefect tasks over the forecast table: check it can be written (before any training), append a
run's vintage (transient failures retried; a retry replaces the run's own rows), read the vintages back."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from forecasting.forecast_table import ForecastTableTarget, open_table
from tasks.credentials import sql_credentials
from tasks.policies import service_retry_options

SERVICE = service_retry_options(2.0)


@task(name="check-forecast-table", cache_policy=NO_CACHE)
def check_forecast_table(target: ForecastTableTarget, credentials_block: str | None = None) -> str:
    """Create the table and its view when missing and prove a write would pass (rolled back)."""
    open_table(target, sql_credentials(credentials_block)).check_writable()
    return target.describe()


@task(name="write-forecast-vintage", cache_policy=NO_CACHE, **SERVICE)
def write_forecast_vintage(target: ForecastTableTarget, vintage: pd.DataFrame, credentials_block: str | None = None) -> dict:
    """Append (or, on a retry of the same run, replace) the run's vintage in one transaction."""
    rows = open_table(target, sql_credentials(credentials_block)).write(vintage)
    return {"table": target.describe(), "run_id": str(vintage["run_id"].iloc[0]), "rows": rows}


@task(name="load-forecast-vintages", cache_policy=NO_CACHE, **SERVICE)
def forecast_vintages(target: ForecastTableTarget, segments: list[str], start: str, end: str,
                      credentials_block: str | None = None) -> pd.DataFrame:
    """Every vintage's champion rows for these segments and dates."""
    return open_table(target, sql_credentials(credentials_block)).read(segments, start, end)
