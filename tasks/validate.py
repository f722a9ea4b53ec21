"""Validate the input table: the report for every segment and the segments that can be trained."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from forecasting.intake import load_data
from forecasting.pipeline import ForecastJob, prepare


@task(name="validate-data", persist_result=True, cache_policy=NO_CACHE)
def validate_data(data_path: str, job: ForecastJob, delimiter: str = "auto", sheet: str | None = None, covariates_path: str | None = None):
    """Read the table (and join the covariates file), validate every segment. Returns the report, the
    trainable segments, and the job with the covariate columns the covariates file added. Data errors
    are never retried: they need a fix in the data, not another attempt."""
    frame, spec = load_data(data_path, job.data, delimiter, sheet, covariates_path)
    job = job.model_copy(update={"data": spec})
    report, prepared = prepare(frame, job)
    return report, prepared, job
