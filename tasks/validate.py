"""Validate the input table: the report for every segment and the segments that can be trained."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from forecasting.intake import load_data
from forecasting.pipeline import ForecastJob, prepare
from forecasting.sources import DataSource
from tasks.credentials import sql_credentials


@task(name="validate-data", persist_result=True, cache_policy=NO_CACHE)
def validate_data(data_path: str | DataSource, job: ForecastJob, delimiter: str = "auto", sheet: str | None = None,
                  covariates_path: str | None = None, credentials_block: str | None = None):
    """Read the table (a file, or a SQL or Unity Catalog source; and join the covariates file), validate
    every segment. Returns the report, the trainable segments, and the job with the covariate columns
    the covariates file added. Data errors are never retried: they need a fix in the data, not another
    attempt. A SQL source's password comes from ``credentials_block`` (loaded here) or the environment."""
    frame, spec = load_data(data_path, job.data, delimiter, sheet, covariates_path, credentials=sql_credentials(credentials_block))
    job = job.model_copy(update={"data": spec})
    report, prepared = prepare(frame, job)
    return report, prepared, job
