"""Process-level settings for forecasting workers: how many cores this process may use, and one
native thread per worker."""

from __future__ import annotations

import math
import os
from pathlib import Path

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cores(cgroup_root: Path = CGROUP_ROOT) -> int:
    """The cores this process may really use: the CPUs it is pinned to (``taskset``, ``--cpuset-cpus``),
    capped by a cgroup CPU quota (``docker --cpus``, Kubernetes CPU limits; a fractional quota rounds
    up). ``os.cpu_count()`` counts the whole machine, which oversubscribes a container."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(cores, 1)


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """CPUs allowed by the cgroup quota (v2 ``cpu.max``, else v1 ``cpu.cfs_quota_us`` /
    ``cpu.cfs_period_us``); None when there is no quota or no cgroup file."""
    try:
        quota, period = (cgroup_root / "cpu.max").read_text().split()[:2]
        if quota != "max" and int(period) > 0:
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int((cgroup_root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((cgroup_root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


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
