"""Retry, cache and persistence policies shared by the tasks."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from prefect.filesystems import LocalFileSystem
from prefect.tasks import exponential_backoff

import forecasting
import tasks
from forecasting.fingerprint import code_fingerprint
from forecasting.system.state import state_dir
from forecasting.system.transient import is_transient

SERVICE_RETRIES = 4


def retry_on_transient(task, task_run, state) -> bool:
    """Retry only what a retry can fix: connection errors, 429 and 5xx. Data errors never retry."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception as fetch_error:  # the result itself could not be read: treat as the error
        exc = fetch_error
    return isinstance(exc, BaseException) and is_transient(exc)


def service_retry_options(backoff_seconds: float) -> dict:
    """Exponential backoff with jitter for tasks that call MLflow, the registry or a serving target."""
    return {
        "retries": SERVICE_RETRIES,
        "retry_delay_seconds": exponential_backoff(backoff_factor=backoff_seconds),
        "retry_jitter_factor": 0.5,
        "retry_condition_fn": retry_on_transient,
    }


@dataclass(frozen=True)
class ResultStorage:
    """Where a run's task results go: a Prefect storage block reference, and the directory on this
    machine when it is our local default (a worker on another machine cannot write there)."""

    block: str
    local_dir: Path | None = None


def result_storage(configured: str | None = None) -> ResultStorage:
    """The configured block (any Prefect storage block, e.g. ``s3-bucket/results``), else Prefect's own
    default result storage when one is set (``PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK``, or the server's
    default: ``prefect experimental result-storage set``), else a local file system block under the
    state directory."""
    block = configured or prefect_default_storage()
    if block:
        return ResultStorage(block)
    path = Path(state_dir()) / "prefect-results"
    path.mkdir(parents=True, exist_ok=True)
    name = "forecast-flows-" + hashlib.sha256(str(path).encode()).hexdigest()[:10]
    LocalFileSystem(basepath=str(path)).save(name, overwrite=True)
    return ResultStorage(f"local-file-system/{name}", path)


def prefect_default_storage() -> str | None:
    """Prefect's default result storage block as ``type-slug/name``: the setting, else the server's
    (None when neither is set, or the server does not keep one)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import get_current_settings

    configured = get_current_settings().results.default_storage_block
    if configured:
        return configured
    try:
        with get_client(sync_client=True) as client:
            block_id = client.read_server_default_result_storage().default_result_storage_block_id
            if block_id is None:
                return None
            document = client.read_block_document(block_id, include_secrets=False)
    except PrefectHTTPStatusError:  # a server older than the setting
        return None
    return f"{document.block_type.slug}/{document.name}"


def cache_key(*parts: str) -> str:
    """A cache key from content fingerprints (segment data, config, code), never from a name alone."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def training_code() -> str:
    """Fingerprint of the code a training result depends on: the domain library and the tasks that
    drive it (a change in ``tasks/train.py`` invalidates cached training results too)."""
    return code_fingerprint(forecasting, tasks)


class ThreadTimeoutAdvice(logging.Filter):
    """Drops Prefect's advice, logged once per task run, that a timeout cannot interrupt a task running in
    a worker thread (threads and Dask runners): the training subflow says it once per run instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Timeout of") and "running in a worker thread" in message)


# Installed on import, so it is in place wherever a task of ours runs: the flow's process (threads) and
# every Dask worker (which imports this module when it unpickles the task).
logging.getLogger("prefect.task_runs").addFilter(ThreadTimeoutAdvice())
