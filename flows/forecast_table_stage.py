"""The forecast table in the `forecast-training` flow: checked writable before any training (a table the
run may not write stops it before anything is registered), then the run's vintage appended after
publishing: every trained segment's champion forecast with its lineage, under the flow run's id, so a
retry of the run replaces its own rows."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger

from forecasting.forecast_table import Lineage, vintage_frame
from forecasting.forecast_table.schema import interval_percent
from forecasting.pipeline import key_column
from tasks.forecast_table import check_forecast_table, write_forecast_vintage


def check_forecast_table_stage(run) -> None:
    """Prove the forecast table can be written, before validation and training."""
    table = run.params.forecast_table
    if table is not None:
        check_forecast_table(table, table.credentials_block)


def forecast_table_stage(run, validated, trained: dict, publication) -> None:
    """Append this run's vintage (the champions' forecasts, registered versions, lineage)."""
    table = run.params.forecast_table
    if table is None:
        return
    vintage = training_vintage(run, validated, trained, publication)
    if vintage.empty:
        get_run_logger().warning("no segment was trained: no vintage written to %s", table.describe())
        return
    run.vintage = write_forecast_vintage.with_options(**run.service)(table, vintage, table.credentials_block)
    get_run_logger().info("forecast vintage: %d rows to %s (run_id %s)", run.vintage["rows"], run.vintage["table"], run.vintage["run_id"])
    run.clock.lap("forecast_table")


def training_vintage(run, validated, trained: dict, publication) -> pd.DataFrame:
    """The vintage rows of a training run, in the forecast table's schema."""
    segment_cols = run.job.data.segment_cols
    key = key_column(segment_cols)
    frames = []
    for result in trained.values():
        if result.status != "trained" or not result.forecast:
            continue
        published = publication.by_segment.get(result.segment)
        forecast = pd.DataFrame(result.forecast)  # a reconciled hierarchy's rows also carry level and yhat_base
        frame = forecast[["ds", "yhat", "yhat_lower", "yhat_upper", *[c for c in ("yhat_base", "level") if c in forecast]]]
        frames.append(frame.assign(**{c: result.values.get(c) for c in segment_cols}, **{key: result.segment}, model=result.champion,
                                   registered_model=published.name if published else None,
                                   model_version=published.version if published else None,
                                   mlflow_run_id=result.run_id, low_confidence=result.low_confidence or None))
    if not frames:
        return pd.DataFrame()
    lineage = Lineage(run_id=run.flow_run_id, origin="forecast-training", data_fingerprint=run.tags.get("data_hash"),
                      source=run.params.source().describe(), interval_level=interval_percent(run.job.models.level))
    as_of = {segment: report.last for segment, report in validated.report.segments.items()}
    return vintage_frame(pd.concat(frames, ignore_index=True), lineage, segment_cols, key, as_of)
