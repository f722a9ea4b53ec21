"""Process-level settings for forecasting workers."""

from __future__ import annotations

import os

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def pin_native_threads(threads: int = 1) -> None:
    """One BLAS/OpenMP thread per worker: parallelism comes from running segments side by side, and an
    unpinned SARIMAX fit used twice the CPU for the same result here."""
    for var in THREAD_VARS:
        os.environ.setdefault(var, str(threads))
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except Exception:  # threadpoolctl is optional at runtime; the env vars cover new processes
        pass


def work_seconds() -> float:
    """CPU seconds of the calling thread plus those of finished child processes (Prophet's Stan runs in
    one). Differences of this clock measure model work inside a task; with several threads in one
    process the child part may be counted by both."""
    import resource
    import time

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.thread_time() + children.ru_utime + children.ru_stime
