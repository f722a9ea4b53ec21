"""Serve every flow on its schedule without a work pool: `python -m deployments.serve`.

Runs until stopped; flow runs execute in this process's machine. Needs a Prefect API (PREFECT_API_URL),
for example `forecast-flows server start` or any Prefect server. The deployments are those of
:mod:`deployments.catalog`, the same as `prefect.yaml`."""

from __future__ import annotations

import importlib
from pathlib import Path

from prefect import serve
from prefect.schedules import Cron, Interval

from deployments.catalog import DEPLOYMENTS, TIMEZONE


def load_flow(entrypoint: str):
    """``flows/training.py:forecast_training`` -> the flow object."""
    path, name = entrypoint.split(":")
    module = importlib.import_module(".".join(Path(path).with_suffix("").parts))
    return getattr(module, name)


def deployments():
    out = []
    for d in DEPLOYMENTS:
        schedule = Cron(d.cron, timezone=TIMEZONE, active=d.active) if d.cron else Interval(d.interval_seconds, active=d.active)
        out.append(load_flow(d.entrypoint).to_deployment(name=d.name, description=d.description, schedule=schedule,
                                                         parameters=d.parameters or None, tags=list(d.tags)))
    return out


if __name__ == "__main__":
    serve(*deployments())
