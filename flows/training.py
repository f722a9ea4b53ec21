"""The `forecast-training` flow: validate -> train, backtest and explain per segment (mapped) -> register
as challenger -> smoke-test -> promote to champion -> (reconcile a hierarchy) -> what changed since the
last forecast -> (append the forecasts to the forecast table) -> router -> deploy -> smoke-test the endpoint.

Plain Python: ``from flows.training import forecast_training; forecast_training(TrainingParameters(...))``.
"""

from __future__ import annotations

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from flows.changes_stage import changes_stage
from flows.reconcile_stage import reconcile_stage
from flows.forecast_table_stage import check_forecast_table_stage, forecast_table_stage
from flows.parameters import RunPolicy, TrainingParameters
from flows.training_stages import (
    TrainingFailed,
    TrainingRun,
    deploy_stage,
    finish_stage,
    open_mlflow_run,
    publish_stage,
    train_stage,
    validate_stage,
)


# The flow's own tasks talk to services (MLflow, the registry, serving): threads. The segments train in the
# `train-segments` subflow, on the runner ``params.policy.task_runner`` picks (processes by default).
@flow(name="forecast-training", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def forecast_training(params: TrainingParameters = TrainingParameters()) -> dict:
    """Train, select, register, smoke-test, promote and deploy one champion per segment.

    Args:
        params: the data, validation policy, model set, backtest, MLflow, registry, serving and run
            policy (the Prefect UI's form).

    Returns:
        The run report: one row per segment (status, champion, backtest score vs the seasonal-naive
        baseline, registered version, MLflow run), the router and endpoint, stage timings. A run with
        more failed segments than ``policy.max_failed_fraction`` or a failed deployment ends Failed,
        with :class:`TrainingFailed` carrying the same report.
    """
    run = TrainingRun.begin(params)
    check_forecast_table_stage(run)
    validated = validate_stage(run)
    open_mlflow_run(run, validated)
    trained = train_stage(run, validated)
    reconciled = reconcile_stage(run, validated, trained)
    publication = publish_stage(run, trained)
    changes = changes_stage(run, validated, trained, publication)
    forecast_table_stage(run, validated, trained, publication)
    deployment = deploy_stage(run, validated, publication, reconciled)
    return finish_stage(run, validated, trained, publication, deployment, reconciled, changes)


__all__ = ["RunPolicy", "TrainingFailed", "TrainingParameters", "forecast_training"]

if __name__ == "__main__":
    forecast_training()
