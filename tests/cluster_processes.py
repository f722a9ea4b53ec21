"""A Dask cluster of real processes for tests: a `dask scheduler` and `dask worker` processes that share
nothing with the test but the network and this package's installation: each worker has its own working
directory, HOME and TMPDIR, and none of the test's MLflow, Prefect or state-directory variables."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from servers import BIN, stop

from forecasting.system.processes import free_port
from forecasting.system.runtime import THREAD_VARS

LEAKY = ("MLFLOW_", "PREFECT_", "FORECAST_FLOWS_", "DASK_")


def bare_env(home: Path, **extra: str) -> dict:
    """What a process on another machine has: PATH to the installation, its own HOME and TMPDIR; nothing
    of this test's MLflow, Prefect, state or thread settings."""
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(LEAKY) and k not in THREAD_VARS}
    return {**env, "HOME": str(home), "TMPDIR": str(home / "tmp"), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra}


class DaskCluster:
    """``with DaskCluster(root) as cluster: cluster.add_worker("a")``; ``cluster.address`` is the
    scheduler's. A worker runs without a nanny, so its process id is the one that runs the tasks and
    SIGKILL loses it for good. ``wrap`` prefixes a worker's command (e.g. ``unshare``)."""

    def __init__(self, root: Path):
        self.root = root
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.workers: dict[str, subprocess.Popen] = {}
        self.addresses: dict[str, str] = {}  # worker name -> its address, once connected
        self.scheduler: subprocess.Popen | None = None

    def __enter__(self) -> "DaskCluster":
        home = self.root / "scheduler"
        port = self.address.rsplit(":", 1)[1]
        self.scheduler = self._start(home, [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"])
        return self

    def __exit__(self, *exc) -> None:
        for process in [*self.workers.values(), self.scheduler]:
            if process is not None:
                stop(process)

    def add_worker(self, name: str, wrap: tuple[str, ...] = ()) -> subprocess.Popen:
        home = self.root / name
        command = [*wrap, str(BIN / "dask"), "worker", self.address, "--name", name, "--nthreads", "1", "--no-nanny",
                   "--no-dashboard", "--local-directory", str(home / "scratch")]
        self.workers[name] = self._start(home, command)
        return self.workers[name]

    def kill(self, name: str) -> None:
        """SIGKILL: the worker dies mid-task, with no chance to tell anyone."""
        os.kill(self.workers[name].pid, signal.SIGKILL)
        self.workers[name].wait(10)

    def wait_for_workers(self, count: int, timeout: float = 180) -> dict[str, int]:
        """Waits until ``count`` workers are connected; returns each connected worker's name -> process id."""
        from distributed import Client

        deadline = time.monotonic() + timeout
        with Client(self.address, timeout="60s", set_as_default=False) as client:
            while time.monotonic() < deadline:
                workers = client.scheduler_info(n_workers=-1)["workers"]
                if len(workers) >= count:
                    self.addresses.update({info["name"]: address for address, info in workers.items()})
                    pids = client.run(os.getpid)
                    return {workers[address]["name"]: pid for address, pid in pids.items()}
                dead = [name for name, p in self.workers.items() if p.poll() is not None]
                if dead:
                    raise RuntimeError(f"dask worker {dead[0]} exited; see {self.root / dead[0] / 'process.log'}")
                time.sleep(0.3)
        raise TimeoutError(f"{count} Dask workers did not connect to {self.address} within {timeout}s")

    def _start(self, home: Path, command: list[str]) -> subprocess.Popen:
        home.mkdir(parents=True, exist_ok=True)
        log = open(home / "process.log", "ab")
        return subprocess.Popen(command, cwd=home, env=bare_env(home), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
