"""The schedules and default parameters of every deployment, shared by `prefect.yaml` (keep them in step)
and `prefect.yaml`-less serving (deployments/serve.py)."""

from __future__ import annotations

import os

TIMEZONE = os.environ.get("FORECAST_FLOWS_TIMEZONE", "UTC")
WEEKLY_RETRAINING = {"cron": "0 6 * * 1", "timezone": TIMEZONE}  # Mondays 06:00
DAILY_COMPARISON = {"cron": "0 7 * * *", "timezone": TIMEZONE}  # every day 07:00, after the day's actuals land
DAILY_BATCH_INFERENCE = {"cron": "30 7 * * *", "timezone": TIMEZONE}
MONTHLY_CLEANUP = {"cron": "0 3 1 * *", "timezone": TIMEZONE}  # 1st of the month 03:00, dry run
MONITOR_EVERY_SECONDS = 900  # every 15 minutes

SAMPLE_PARAMETERS = {"params": {"data_path": "examples/data/finance_segments.csv", "data": {"segment_cols": ["region", "product"]}, "backtest": {"horizon": 30}}}
COMPARISON_PARAMETERS = {"params": {"actuals_path": "examples/data/finance_segments_actuals.csv", "data": {"segment_cols": ["region", "product"]},
                                    "policy": {"on_drift": "retrain"}, "training_deployment": "forecast-training/weekly-retraining"}}
