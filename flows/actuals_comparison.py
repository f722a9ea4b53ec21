"""The `actuals-comparison` flow: load actuals (a file or a database) -> join with the forecasts made
before them (the forecast table's vintages, else those each champion made when it was promoted) -> score and band every segment -> report (file, table and markdown artifacts) -> flag the
segments that keep missing, or start their retraining through the training deployment."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger

from flows.mlflow_ui import mlflow_ui_url
from flows.parameters import ComparisonParameters
from flows.paths import default_output
from forecasting.errors import ConfigError
from forecasting.mlops.champion_forecasts import COLUMNS
from forecasting.ops.comparison import compare, vintage_forecasts
from forecasting.ops.export import export_forecasts
from forecasting.ops.llm_summary import executive_summary
from forecasting.ops.summary import comparison_summary
from forecasting.tables import write_json, write_table
from tasks.artifacts import comparison_artifacts, comparison_chart_artifacts
from tasks.forecast_table import forecast_vintages
from tasks.operations import champion_forecasts, read_actuals, trigger_retraining


@flow(name="actuals-comparison", log_prints=True)
def actuals_comparison(params: ComparisonParameters) -> dict:
    """Compare what was forecast with what happened, per segment, and act on segments that drift.

    Args:
        params: the actuals file and its columns, the drift policy, MLflow, the training deployment.

    Returns:
        Per segment: WAPE, MAPE, bias, coverage, status band, drift; the volume-weighted totals; the
        report and summary paths; the retraining flow run when drifting segments were retrained.
    """
    logger = get_run_logger()
    source = params.source()
    actuals = read_actuals(source, params.data, credentials_block=source.credentials_block)
    start, end = str(actuals["ds"].min().date()), str(actuals["ds"].max().date())
    tracking = params.tracking.resolved()  # once, here: every task reads the same tracking store
    forecasts = forecasts_to_compare(params.model_copy(update={"tracking": tracking}), start, end, sorted(actuals["segment"].unique()))
    report = compare(actuals, forecasts, params.policy)

    uri = tracking.resolved_tracking_uri()
    template = comparison_summary(report, params.policy.band_metric, {"MLflow": mlflow_ui_url(uri) or uri})
    markdown, source = executive_summary(template, params.summary)
    output = Path(params.output_path or default_output("actuals-comparison"))
    if output.suffix.lower() == ".xlsx":
        periods = report.periods.assign(ds=report.periods["ds"].dt.strftime("%Y-%m-%d"), model=report.periods["family"])
        export_forecasts(periods, output)
    else:
        write_table(report.segments, output)
    output.with_suffix(".md").write_text(markdown)
    comparison_chart_artifacts(report, params.policy.band_metric)
    comparison_artifacts(report, markdown)

    result = {"segments": report.segments.to_dict("records"), "totals": report.totals, "unmatched": report.unmatched,
              "drifting": report.drifting, "action": params.policy.on_drift, "retraining": None,
              "report_path": str(output), "summary_path": str(output.with_suffix(".md")), "summary_source": source}
    write_json(result, output.with_suffix(".json"))
    if report.drifting:
        logger.warning("%d segment(s) drifting: %s", len(report.drifting), ", ".join(report.drifting))
        if params.policy.on_drift == "retrain":
            result["retraining"] = trigger_retraining(params.training_deployment, report.drifting)
            logger.info("retraining started: flow run %s", result["retraining"]["flow_run_name"])
            write_json(result, output.with_suffix(".json"))
    return result


def forecasts_to_compare(params: ComparisonParameters, start: str, end: str, segments: list[str]):
    """The forecast table's vintages for the segments it has, MLflow's promoted forecasts for the rest
    (all of them without a forecast table); a ``forecast_source`` column says which."""
    frames, remaining = [], list(segments)
    table = params.forecast_table
    if table is not None:
        vintages = vintage_forecasts(forecast_vintages(table, segments, start, end, table.credentials_block))
        frames.append(vintages)
        remaining = [s for s in segments if s not in set(vintages["segment"])]
        get_run_logger().info("%d of %d segment(s) compared with %s; %d with MLflow's promoted forecasts",
                              len(segments) - len(remaining), len(segments), table.describe(), len(remaining))
    if remaining:
        try:
            frames.append(champion_forecasts(params.tracking, start, end, remaining).assign(forecast_source="mlflow"))
        except ConfigError:
            if table is None:
                raise
            get_run_logger().warning("no MLflow experiment %r to fall back on for %d segment(s)", params.tracking.experiment, len(remaining))
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*COLUMNS, "forecast_source"])
