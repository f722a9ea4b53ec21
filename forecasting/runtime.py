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
