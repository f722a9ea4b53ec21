"""Create the process work pool the deployments in prefect.yaml use: `python -m deployments.work_pool`."""

from __future__ import annotations

import subprocess
import sys

from deployments.catalog import WORK_POOL as POOL


def ensure_pool(name: str = POOL) -> None:
    listed = subprocess.run([sys.executable, "-m", "prefect", "work-pool", "inspect", name], capture_output=True, text=True)
    if listed.returncode == 0:
        print(f"work pool {name!r} exists")
        return
    subprocess.run([sys.executable, "-m", "prefect", "work-pool", "create", name, "--type", "process"], check=True)


if __name__ == "__main__":
    ensure_pool(sys.argv[1] if len(sys.argv) > 1 else POOL)
