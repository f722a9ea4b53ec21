"""Deploy the router to the configured target; the target smoke-tests it against the model's own answer."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from forecasting.mlops.config import TrackingConfig
from forecasting.mlops.tracking import connect
from forecasting.serving import DeployConfig, make_target


@task(name="deploy-router", cache_policy=NO_CACHE)
def deploy_router(model_name: str, version: str, config: DeployConfig, tracking: TrackingConfig) -> dict:
    """Serve ``models:/model_name/version``. Every segment's example through the new endpoint must equal
    the registered model's own answer before the previous version stops serving (local) or the deploy
    counts as done (Databricks); otherwise the previous version serves again and the
    :class:`~forecasting.serving.DeployError` says what failed and what serves now."""
    import mlflow

    connect(tracking)
    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    example = pd.DataFrame(model.input_example)
    expected = pd.DataFrame(model.predict(example))
    target = make_target(config) if config.target != "local" else _local(config, tracking)
    status = target.deploy(model_name, version, example, expected)
    return {"target": status.target, "url": status.url, "model": status.model, "version": status.version, "segments": len(example)}


def _local(config: DeployConfig, tracking: TrackingConfig):
    from forecasting.serving.local import LocalTarget

    return LocalTarget(config, tracking)
