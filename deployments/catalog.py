"""Every deployment in one place: name, flow, schedule, default parameters. `prefect.yaml` is rendered
from this (`python -m deployments.render`; a test fails when the file is out of date) and
`python -m deployments.serve` serves the same list without a work pool."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from flows.parameters import SAMPLE_DATA, TRAINING_DEPLOYMENT

WORK_POOL = "forecast-pool"
PREFECT_VERSION = "3.9.1"  # the version these deployments are tested with
TIMEZONE = os.environ.get("FORECAST_FLOWS_TIMEZONE", "UTC")
# The SQL-sourced retraining: where the warehouse is (no password: that is in the block) and the block's name.
SQL_WAREHOUSE = "postgresql+psycopg://forecaster@warehouse.internal:5432/finance"
SQL_CREDENTIALS_BLOCK = "finance-warehouse"


@dataclass(frozen=True)
class Deployment:
    name: str
    entrypoint: str  # path/to/flow.py:function
    description: str
    tags: tuple[str, ...]
    cron: str | None = None  # a cron schedule in TIMEZONE, or
    interval_seconds: int | None = None  # a fixed interval
    parameters: dict = field(default_factory=dict)
    active: bool = True  # False: the schedule is created paused (it needs setup first, e.g. a credentials block)


DEPLOYMENTS = [
    Deployment(
        "weekly-retraining", "flows/training.py:forecast_training",
        "Retrain, select, register, smoke-test and deploy one champion per segment.",
        ("forecasting", "training"), cron="0 6 * * 1",  # Mondays 06:00
        parameters={"params": {"data_path": SAMPLE_DATA, "data": {"segment_cols": ["region", "product"]}, "backtest": {"horizon": 30}}},
    ),
    Deployment(
        "weekly-retraining-sql", "flows/training.py:forecast_training",
        "Retrain on the finance warehouse: actuals from PostgreSQL (password in the SqlAlchemyConnector block "
        f"{SQL_CREDENTIALS_BLOCK!r}), every run's forecasts appended to finance.forecasts with lineage. "
        "Paused until the block exists and data_source/forecast_table name your database: see docs/production.md.",
        ("forecasting", "training", "sql"), cron="30 6 * * 1",  # Mondays 06:30
        parameters={"params": {
            "data_source": {"location": SQL_WAREHOUSE, "credentials_block": SQL_CREDENTIALS_BLOCK,
                            "query": "SELECT ds, region, product, y FROM finance.daily_actuals WHERE ds >= CURRENT_DATE - INTERVAL '3 years'"},
            "forecast_table": {"url": SQL_WAREHOUSE, "table": "finance.forecasts", "credentials_block": SQL_CREDENTIALS_BLOCK},
            "data": {"segment_cols": ["region", "product"]}, "backtest": {"horizon": 30}}},
        active=False,
    ),
    Deployment(
        "daily-comparison", "flows/actuals_comparison.py:actuals_comparison",
        "Forecast vs actuals per segment (MAPE, WAPE, bias, coverage, status bands); retrains segments that keep missing.",
        ("forecasting", "operations"), cron="0 7 * * *",  # every day 07:00, after the day's actuals land
        parameters={"params": {"actuals_path": "examples/data/finance_segments_actuals.csv", "data": {"segment_cols": ["region", "product"]},
                               "policy": {"on_drift": "retrain"}, "training_deployment": TRAINING_DEPLOYMENT}},
    ),
    Deployment(
        "daily-batch-inference", "flows/batch_inference.py:batch_inference",
        "The next periods of every segment from its champion alias, one long table with lineage.",
        ("forecasting", "operations"), cron="30 7 * * *",
    ),
    Deployment(
        "monthly-cleanup", "flows/model_cleanup.py:model_cleanup",
        "Registry cleanup (keeps the newest 5 and every aliased version); a dry run until dry_run is false.",
        ("forecasting", "operations"), cron="0 3 1 * *",  # 1st of the month 03:00
    ),
    Deployment(
        "endpoint-monitor", "flows/endpoint_monitor.py:endpoint_monitor",
        "Health and latency of the serving target; fails with an artifact when it is down or slow.",
        ("forecasting", "monitoring"), interval_seconds=900,  # every 15 minutes
    ),
]
