"""MLflow tracking: one experiment per pipeline, a parent run per training run, a child run per segment."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

import forecasting
from forecasting.errors import ForecastingError
from forecasting.mlops.config import TrackingConfig
from forecasting.system.transient import is_transient

MAX_PARAM_LENGTH = 500


def quiet_mlflow() -> None:
    """No progress bars, pickling advice or registry chatter in task logs; warnings that matter still show."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    _drop_registry_chatter()


# What mlflow.register_model prints on every registration (to stderr, not through logging): our report
# says which version each segment got, once.
REGISTRY_CHATTER = ("Successfully registered model ", "Created version '", "Registered model '")


class _ChatterFilter:
    """Drops MLflow's registration messages from its event stream, passing everything else through."""

    def __init__(self, write):
        self.write_through, self.dropping = write, False

    def __call__(self, text: str):
        if text.startswith(REGISTRY_CHATTER):
            self.dropping = True  # print() writes the message, then its "\n" separately
            return len(text)
        if self.dropping and text == "\n":
            self.dropping = False
            return len(text)
        self.dropping = False
        return self.write_through(text)


def _drop_registry_chatter() -> None:
    from mlflow.utils import logging_utils

    stream = logging_utils.MLFLOW_LOGGING_STREAM
    if not isinstance(stream.__dict__.get("write"), _ChatterFilter):
        stream.write = _ChatterFilter(stream.write)


def connect(config: TrackingConfig) -> MlflowClient:
    """Point this process (or worker) at the configured tracking server and registry."""
    quiet_mlflow()
    exported = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(config.resolved_tracking_uri())
    # always set: "" is the tracking URI's default, and replaces whatever an earlier task in this worker chose
    mlflow.set_registry_uri(config.resolved_registry_uri() or "")
    # MLflow also exports the URIs to the environment; keep the user's environment as it was, so a later
    # TrackingConfig() in this process never silently inherits a URI an earlier run chose.
    for key, value in exported.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    return MlflowClient()


def ensure_experiment(config: TrackingConfig) -> str:
    """The experiment's id, created (with the local artifact root) on first use."""
    client = connect(config)
    experiment = client.get_experiment_by_name(config.experiment)
    if experiment is not None:
        return experiment.experiment_id
    root = config.resolved_artifact_root()
    location = f"{root.rstrip('/')}/{config.experiment}" if root else None
    try:
        return client.create_experiment(config.experiment, artifact_location=location)
    except mlflow.exceptions.MlflowException:
        # another worker created it between our lookup and create
        return client.get_experiment_by_name(config.experiment).experiment_id


def code_version() -> str:
    """The git commit of the working tree when there is one, else the package version."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(forecasting.__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if sha.returncode == 0 and sha.stdout.strip():
            return sha.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return forecasting.__version__


class TrackingUnavailable(ConnectionError):
    """The MLflow tracking server (or store) did not answer; the message names it. A ConnectionError,
    so the flow's service tasks retry it with backoff."""


@contextlib.contextmanager
def reaching(config: TrackingConfig):
    """Calls to MLflow inside this block that fail for a transient reason (connection refused, 5xx,
    429, a locked SQLite store) raise :class:`TrackingUnavailable` naming the tracking URI."""
    try:
        yield
    except TrackingUnavailable:
        raise
    except Exception as exc:
        if isinstance(exc, ForecastingError) or not is_transient(exc):
            raise
        uri = config.resolved_tracking_uri()
        what = "server" if uri.startswith("http") else "store"
        text = str(exc)
        reason = next((m for m in ("connection refused", "connection reset", "database is locked", "timed out")
                       if m in text.lower()), text.splitlines()[0][:200] if text else type(exc).__name__)
        raise TrackingUnavailable(f"MLflow tracking {what} {uri} is unavailable ({reason})") from exc


def start_training_run(config: TrackingConfig, tags: dict[str, str], run_name: str | None = None) -> str:
    """The parent run of one training run; tags carry orchestration run id, data/config hash, code."""
    with reaching(config):
        client = connect(config)
        experiment_id = ensure_experiment(config)
        run = client.create_run(experiment_id, tags={**tags, "code_version": code_version()}, run_name=run_name)
        return run.info.run_id


def end_run(config: TrackingConfig, run_id: str, failed: bool = False) -> None:
    with reaching(config):
        connect(config).set_terminated(run_id, status="FAILED" if failed else "FINISHED")


def finite_metrics(values: dict[str, float | None]) -> dict[str, float]:
    """Only finite numbers reach MLflow; undefined metrics are recorded as tags by the caller."""
    return {k: float(v) for k, v in values.items() if v is not None and isinstance(v, (int, float)) and math.isfinite(v)}


def flat_params(prefix: str, params: dict) -> dict[str, str]:
    out = {}
    for key, value in params.items():
        text = json.dumps(value, default=str) if not isinstance(value, str) else value
        out[f"{prefix}.{key}"] = text[:MAX_PARAM_LENGTH]
    return out


@dataclass
class SegmentRun:
    run_id: str
    model_uri: str | None = None


def start_segment_run(config: TrackingConfig, parent_run_id: str, segment: str, tags: dict[str, str]) -> str:
    client = connect(config)
    run = client.create_run(
        _experiment_of(config.resolved_tracking_uri(), parent_run_id),
        tags={"mlflow.parentRunId": parent_run_id, "segment": segment, **tags},
        run_name=segment[:250],
    )
    return run.info.run_id


@functools.lru_cache(maxsize=64)
def _experiment_of(tracking_uri: str, run_id: str) -> str:
    """A parent run's experiment, read once per process (every segment of a training run asks)."""
    return MlflowClient(tracking_uri).get_run(run_id).info.experiment_id


def log_tables(client: MlflowClient, run_id: str, tables: dict[str, pd.DataFrame | dict | list], figures: dict | None = None) -> None:
    """One bundle per run, logged at once: each frame as CSV (the MLflow UI shows it as a table), anything
    else as JSON, each figure as PNG."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, table in tables.items():
            if isinstance(table, pd.DataFrame):
                table.to_csv(root / f"{name}.csv", index=False)
            else:
                (root / f"{name}.json").write_text(json.dumps(table, indent=1, default=str))
        for name, figure in (figures or {}).items():
            figure.savefig(root / f"{name}.png", dpi=90)
        client.log_artifacts(run_id, str(root))
