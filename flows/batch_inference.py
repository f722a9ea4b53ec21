"""The `batch-inference` flow: every segment's `champion` -> the next H periods -> one long table with
lineage (registered model, version, run id) on every row, also appended to the forecast table as a vintage
when one is given."""

from __future__ import annotations

from prefect import flow, get_run_logger, unmapped
from prefect.context import get_run_context

from flows.chunks import chunks
from flows.parameters import BatchInferenceParameters
from flows.paths import default_output
from forecasting.ops.batch_forecast import batch_vintage, long_table
from forecasting.ops.export import export_forecasts
from tasks.artifacts import table_artifact
from tasks.forecast_table import check_forecast_table, write_forecast_vintage
from tasks.operations import forecast_champions, list_models


class BatchInferenceFailed(Exception):
    pass


@flow(name="batch-inference", log_prints=True)
def batch_inference(params: BatchInferenceParameters = BatchInferenceParameters()) -> dict:
    """Forecast the next periods of every segment from its ``champion`` version.

    Returns:
        Rows and segments written, the output path, and the segments that could not forecast (the run
        fails when more than ``max_failed_fraction`` of them did).
    """
    logger = get_run_logger()
    table_target = params.forecast_table
    if table_target is not None:
        check_forecast_table(table_target, table_target.credentials_block)
    tracking = params.tracking.resolved()  # once, here: every task reads the same registry
    names = list_models(tracking, params.registry)
    if not names:
        raise BatchInferenceFailed(f"no registered models under prefix {params.registry.model_prefix!r} at {tracking.resolved_tracking_uri()}")
    futures = forecast_champions.map(chunks(names, params.models_per_task), tracking=unmapped(tracking), horizon=unmapped(params.horizon))
    frames, failures = [], {}
    for future in futures:
        chunk_frames, chunk_failures = future.result()
        frames += chunk_frames
        failures.update(chunk_failures)
    table = long_table(frames)
    output = params.output_path or default_output("batch-forecast")
    if frames:
        export_forecasts(table, output)
    table_artifact([{"registered_model": n, "reason": r[:500]} for n, r in failures.items()], "batch-inference-failures", "Segments with no forecast")
    logger.info("%d rows for %d segment(s) written to %s; %d failed", len(table), len(frames), output, len(failures))
    result = {"rows": len(table), "segments": len(frames), "failures": failures, "output_path": output if frames else None}
    if frames and table_target is not None:
        vintage = batch_vintage(table, str(get_run_context().flow_run.id))
        result["forecast_table"] = write_forecast_vintage(table_target, vintage, table_target.credentials_block)
        logger.info("forecast vintage: %d rows to %s", result["forecast_table"]["rows"], result["forecast_table"]["table"])
    if len(failures) / len(names) > params.max_failed_fraction:
        raise BatchInferenceFailed(f"{len(failures)} of {len(names)} segment(s) could not forecast: "
                                   + "; ".join(f"{n}: {r}" for n, r in list(failures.items())[:3]))
    return result
