"""The `batch-inference` flow: every segment's `champion` -> the next H periods -> one long table with
lineage (registered model, version, run id) on every row."""

from __future__ import annotations

from prefect import flow, get_run_logger, unmapped
from pydantic import BaseModel, Field

from flows.paths import default_output
from flows.training import chunks
from forecasting.batch_inference import long_table
from forecasting.export import export_forecasts
from forecasting.registry import RegistryConfig
from forecasting.settings import TrackingConfig
from tasks.artifacts import table_artifact
from tasks.operations import forecast_champions, list_models


class BatchInferenceParameters(BaseModel):
    horizon: int | None = Field(None, ge=1, le=10_000, description="periods to forecast (default: each model's trained horizon)")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    output_path: str | None = Field(None, description=".csv, .parquet or .xlsx; default: the state directory")
    models_per_task: int = Field(25, ge=1, le=1000)
    max_failed_fraction: float = Field(0.0, ge=0, le=1, description="fail the run when more segments than this fail")


class BatchInferenceFailed(Exception):
    pass


@flow(name="batch-inference", log_prints=True)
def batch_inference(params: BatchInferenceParameters = BatchInferenceParameters()) -> dict:
    logger = get_run_logger()
    names = list_models(params.tracking, params.registry)
    if not names:
        raise BatchInferenceFailed(f"no registered models under prefix {params.registry.model_prefix!r} at {params.tracking.resolved_tracking_uri()}")
    futures = forecast_champions.map(chunks(names, params.models_per_task), tracking=unmapped(params.tracking), horizon=unmapped(params.horizon))
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
    if len(failures) / len(names) > params.max_failed_fraction:
        raise BatchInferenceFailed(f"{len(failures)} of {len(names)} segment(s) could not forecast: "
                                   + "; ".join(f"{n}: {r}" for n, r in list(failures.items())[:3]))
    return result
