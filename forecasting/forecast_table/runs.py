"""A `forecast` run (no MLOps) as one vintage of the forecast table."""

from __future__ import annotations

import pandas as pd

from forecasting.forecast_table.schema import Lineage, interval_percent, vintage_frame
from forecasting.pipeline import ForecastJob, ForecastRun, forecast_frame, key_column


def forecast_run_vintage(run: ForecastRun, job: ForecastJob, run_id: str, source: str | None = None) -> pd.DataFrame:
    """Every trained segment's forecast (and every candidate's, with all_models) with its lineage: the
    segment's last actual date, the champion's family and low-confidence reason, the data fingerprint."""
    segment_cols = job.data.segment_cols
    key = key_column(segment_cols)
    table = forecast_frame(run, segment_cols)  # with each segment's low-confidence reason
    lineage = Lineage(run_id=run_id, origin="forecast", data_fingerprint=run.data_fingerprint or None, source=source,
                      interval_level=interval_percent(job.models.level))
    return vintage_frame(table, lineage, segment_cols, key, as_of={o.segment: o.report.last for o in run.trained})
