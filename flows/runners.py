"""Task runners (a process pool sized to the machine by default, threads, Dask) and the Prefect API
their workers talk to (the local server the CLI starts for them: :mod:`flows.local_server`)."""

from __future__ import annotations

from prefect.task_runners import ProcessPoolTaskRunner

from flows.local_server import ensure_local_server, stop_local_server, ui_url
from forecasting.system.pool import worker_pool
from forecasting.system.runtime import pin_native_threads, usable_cores

RUNNERS = ("processes", "threads", "dask")
PINNED = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def make_task_runner(kind: str, workers: int | None = None, dask_address: str | None = None):
    """A Prefect task runner: ``workers`` processes, threads or local Dask workers (default: the cores
    this machine lets us use); ``dask_address`` connects to an existing Dask scheduler instead."""
    workers = workers or usable_cores()
    if kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "processes":
        return WorkerProcessTaskRunner(max_workers=workers, initializer=pin_native_threads)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True, "env": PINNED})
    raise ValueError(f"unknown task runner {kind!r}; use one of {', '.join(RUNNERS)}")


class WorkerProcessTaskRunner(ProcessPoolTaskRunner):
    """Prefect's process runner with its workers started by :func:`~forecasting.system.pool.worker_pool`.
    Prefect's own (spawn) workers import the caller's ``__main__`` again: a script's top-level flow call
    ran once more in each and failed ("not finished its bootstrapping phase"), and a script read from
    standard input failed outright. Everything else (settings and context to the workers, their logs
    and events back) is Prefect's; the workers are joined when the runner exits."""

    def __enter__(self):
        super().__enter__()
        from prefect.task_runners import _initialize_process_pool_worker

        unstarted, self._executor = self._executor, worker_pool(
            self._max_workers, _initialize_process_pool_worker, (self._subprocess_message_queue, self._initializer, self._initargs))
        unstarted.shutdown(wait=False)  # a spawn pool starts its processes at the first submit: it has none
        return self


def api_for_workers() -> str | None:
    """The Prefect API that worker processes of this run can reach: ``PREFECT_API_URL`` (a server, a
    worker's run, the test harness), else the temporary server Prefect started for this process when a
    flow was called from plain Python without one. None when neither exists (then each worker process
    would start a temporary server of its own)."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return PREFECT_API_URL.value()
    try:
        from prefect.server.api.server import SubprocessASGIServer
    except ImportError:  # a client-only Prefect install
        return None
    server = SubprocessASGIServer._instances.get(None)
    return server.api_url if server is not None and server.running else None


__all__ = ["RUNNERS", "WorkerProcessTaskRunner", "api_for_workers", "ensure_local_server", "make_task_runner", "stop_local_server", "ui_url"]
