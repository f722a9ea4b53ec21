"""Validate the input table: the report for every segment and the segments that can be trained."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from forecasting.pipeline import ForecastJob, prepare
from forecasting.tables import read_table


@task(name="validate-data", persist_result=True, cache_policy=NO_CACHE)
def validate_data(data_path: str, job: ForecastJob, delimiter: str = "auto"):
    """Data errors are never retried: they need a fix in the data, not another attempt."""
    frame = read_table(data_path, delimiter)
    return prepare(frame, job)
