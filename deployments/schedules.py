"""The schedules of every deployment, shared by `prefect.yaml`-less serving (deployments/serve.py)."""

from __future__ import annotations

import os

TIMEZONE = os.environ.get("FORECAST_FLOWS_TIMEZONE", "UTC")
WEEKLY_RETRAINING = {"cron": "0 6 * * 1", "timezone": TIMEZONE}
SAMPLE_PARAMETERS = {"params": {"data_path": "examples/data/finance_segments.csv", "data": {"segment_cols": ["region", "product"]}, "backtest": {"horizon": 30}}}
