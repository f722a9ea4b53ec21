"""Serve every flow on its schedule without a work pool: `python -m deployments.serve`.

Runs until stopped; flow runs execute in this process's machine. Needs a Prefect API (PREFECT_API_URL),
for example `forecast-flows server start` or any Prefect server."""

from __future__ import annotations

from prefect import serve
from prefect.schedules import Cron

from deployments.schedules import SAMPLE_PARAMETERS, WEEKLY_RETRAINING
from flows.training import forecast_training


def deployments():
    return [
        forecast_training.to_deployment(
            name="weekly-retraining",
            schedule=Cron(WEEKLY_RETRAINING["cron"], timezone=WEEKLY_RETRAINING["timezone"]),
            parameters=SAMPLE_PARAMETERS,
            tags=["forecasting", "training"],
        ),
    ]


if __name__ == "__main__":
    serve(*deployments())
