"""Fit the run's global model: one task per fit (each fold position and the final fit, per frequency),
run concurrently on the training subflow's task runner before the per-segment work, cached on every
segment's data, the configuration and the code."""

from __future__ import annotations

from prefect import get_run_logger, task

from forecasting.fingerprint import config_fingerprint, segment_fingerprint
from forecasting.global_fit import GlobalJob, GlobalJobResult, run_global_job
from forecasting.models import ModelSpec
from forecasting.system.runtime import pin_native_threads
from tasks.policies import cache_key, training_code


def global_cache_key(context, parameters) -> str:
    job: GlobalJob = parameters["job"]
    fingerprints = [f"{s.key}:{segment_fingerprint(s.history, s.future)}" for s in job.segments]
    return "global-" + cache_key(job.frequency, str(job.position), *fingerprints, config_fingerprint(parameters["models"]), training_code())


@task(name="fit-global", persist_result=True, cache_key_fn=global_cache_key, timeout_seconds=3600)
def fit_global_job(job: GlobalJob, models: ModelSpec) -> GlobalJobResult:
    """One fit of the global model across every segment of a frequency: fold ``job.position`` (each
    segment up to its own cutoff) or the final fit (position 0). A failure is in the result's record."""
    pin_native_threads()
    result = run_global_job(job, models)
    what = f"fold position {job.position}" if job.position else "final fit"
    get_run_logger().info("global model %s (%s): %d segment(s), %.1f s%s", job.frequency, what, len(job.segments), result.record.seconds,
                          f"; failed: {result.record.error}" if result.record.error else "")
    return result
