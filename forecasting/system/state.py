"""Where local state lives: one directory for the MLflow store, serving state, Prefect results."""

from __future__ import annotations

import os
from pathlib import Path

STATE_ENV = "FORECAST_FLOWS_HOME"


def state_dir() -> Path:
    """The one local state directory (MLflow database and artifacts, serving pids and logs, Prefect
    results): ``$FORECAST_FLOWS_HOME`` or ``./.forecast-flows``."""
    path = Path(os.environ.get(STATE_ENV, ".forecast-flows")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
