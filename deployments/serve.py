"""Serve every flow on its schedule without a work pool: `python -m deployments.serve`.

Runs until stopped; flow runs execute in this process's machine. Needs a Prefect API (PREFECT_API_URL),
for example `forecast-flows server start` or any Prefect server."""

from __future__ import annotations

from prefect import serve
from prefect.schedules import Cron, Interval

from deployments import schedules as s
from flows.actuals_comparison import actuals_comparison
from flows.batch_inference import batch_inference
from flows.endpoint_monitor import endpoint_monitor
from flows.model_cleanup import model_cleanup
from flows.training import forecast_training


def _cron(spec: dict) -> Cron:
    return Cron(spec["cron"], timezone=spec["timezone"])


def deployments():
    return [
        forecast_training.to_deployment(name="weekly-retraining", schedule=_cron(s.WEEKLY_RETRAINING), parameters=s.SAMPLE_PARAMETERS,
                                        tags=["forecasting", "training"]),
        actuals_comparison.to_deployment(name="daily-comparison", schedule=_cron(s.DAILY_COMPARISON), parameters=s.COMPARISON_PARAMETERS,
                                         tags=["forecasting", "operations"]),
        batch_inference.to_deployment(name="daily-batch-inference", schedule=_cron(s.DAILY_BATCH_INFERENCE), tags=["forecasting", "operations"]),
        model_cleanup.to_deployment(name="monthly-cleanup", schedule=_cron(s.MONTHLY_CLEANUP), tags=["forecasting", "operations"]),
        endpoint_monitor.to_deployment(name="endpoint-monitor", schedule=Interval(s.MONITOR_EVERY_SECONDS), tags=["forecasting", "monitoring"]),
    ]


if __name__ == "__main__":
    serve(*deployments())
