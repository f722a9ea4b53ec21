"""Where flows read inputs from and write outputs to by default."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from forecasting.system.state import state_dir

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def resolve_input(path: str) -> str:
    """Relative paths: the working directory, then the project (so deployments find bundled samples)."""
    candidate = Path(path)
    if not candidate.is_absolute() and not candidate.exists() and (PROJECT_ROOT / candidate).exists():
        return str(PROJECT_ROOT / candidate)
    return str(candidate)


def default_output(kind: str, suffix: str = ".csv") -> str:
    """``<state dir>/exports/<kind>-<UTC timestamp><suffix>``: a scheduled run never overwrites the last one."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return str(state_dir() / "exports" / f"{kind}-{stamp}{suffix}")
