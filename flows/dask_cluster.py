"""What a run on a Dask scheduler of its own (``policy.dask_address``) hands its workers, and whether they
can use it. The workers may be other machines: a SQLite or file tracking store, a file artifact root or
our default local result storage is a path on this machine, usable only by workers that see this
machine's files (the same machine, or a shared mount). Asked once, before anything is trained."""

from __future__ import annotations

import secrets
from pathlib import Path

from forecasting.errors import ConfigError
from forecasting.mlops.config import TrackingConfig
from forecasting.system.state import state_dir

CONNECT_TIMEOUT = "30s"


def check_workers_reach(address: str, tracking: TrackingConfig, local_results: Path | None) -> None:
    """Raise :class:`ConfigError` (one line) when a worker of the scheduler at ``address`` does not see
    the files of this machine the run would hand it: ``local_results`` (the default result storage) or
    the tracking settings' local paths. Nothing to check when the run hands the workers only network
    locations (a tracking server, a storage block of its own)."""
    if local_results is None and not tracking.local_paths():
        return
    blind = workers_not_seeing(address, local_results or state_dir())  # the tracking defaults live there too
    if not blind:
        return
    needs = []
    if local_results is not None:
        needs.append(f"policy.result_storage (--result-storage, or Prefect's PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK) to a storage block every "
                     f"worker can write, e.g. s3-bucket/results, instead of {local_results}")
    if tracking.local_paths():
        needs.append(f"MLFLOW_TRACKING_URI to a tracking server (http://…) instead of {', '.join(tracking.local_paths())}")
    raise ConfigError(f"{len(blind)} Dask worker(s) at {address} (e.g. {blind[0]}) do not see this machine's files, "
                      f"so they cannot write this run's results or models there: set {'; and '.join(needs)}")


def workers_not_seeing(address: str, directory: Path) -> list[str]:
    """The workers of the scheduler at ``address`` that cannot read a file this process writes in
    ``directory`` (they read it; they write nothing)."""
    from distributed import Client

    token = secrets.token_hex(16)
    probe = Path(directory) / f".worker-probe-{token}"
    probe.write_text(token)
    try:
        with Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False) as client:
            answers = client.run(read_probe, str(probe))
    finally:
        probe.unlink(missing_ok=True)
    return sorted(worker for worker, seen in answers.items() if seen != token)


def cluster_threads(address: str) -> int:
    """The worker threads of the scheduler at ``address`` now: how many segments its workers train at
    once (task runs are sized from it when ``policy.workers`` is not set). At least 1."""
    from distributed import Client

    with Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False) as client:
        return max(1, sum(worker.get("nthreads", 1) for worker in client.scheduler_info()["workers"].values()))


def read_probe(path: str) -> str | None:
    """Runs on each worker: the probe file's content, or None when this worker does not see it."""
    try:
        return Path(path).read_text()
    except OSError:
        return None
