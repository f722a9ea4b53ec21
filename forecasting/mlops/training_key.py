"""What identifies one training of a segment: the segment, its data fingerprint, the configuration and
the code. A retried or rerun training with the same key finds the finished child run and the registered
version it already produced instead of logging and registering them again, whatever the chunk size."""

from __future__ import annotations

import hashlib

from mlflow.tracking import MlflowClient

from forecasting.mlops.registry import TRAINING_KEY
from forecasting.mlops.tracking import SegmentRun


def training_key(segment: str, data_fingerprint: str, config_fingerprint: str, code_fingerprint: str) -> str:
    """Changes when the segment's data, the training configuration or the code changes; never with the
    MLflow run, the task run or the chunk the segment was trained in."""
    parts = "\n".join((segment, data_fingerprint, config_fingerprint, code_fingerprint))
    return hashlib.sha256(parts.encode()).hexdigest()[:32]


def finished_segment_run(client: MlflowClient, experiment_id: str, key: str) -> SegmentRun | None:
    """The earliest FINISHED child run of ``experiment_id`` tagged with ``key`` whose model was logged
    completely, or None. Runs cut off mid-way (FAILED, or RUNNING after a crash) never count."""
    runs = client.search_runs([experiment_id], f"tags.{TRAINING_KEY} = '{key}' and attributes.status = 'FINISHED'",
                              max_results=5, order_by=["attributes.start_time ASC"])
    for run in runs:
        models = client.search_logged_models([experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'")
        ready = [m for m in models if str(getattr(m.status, "name", m.status)).upper().endswith("READY")]
        if ready:
            return SegmentRun(run_id=run.info.run_id, model_uri=ready[0].model_uri)
    return None
