"""Deploy the router to the configured target and smoke-test it through the endpoint."""

from __future__ import annotations

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from forecasting.mlops.config import TrackingConfig
from forecasting.mlops.tracking import connect
from forecasting.serving import DeployConfig, DeployError, make_target


@task(name="deploy-router", cache_policy=NO_CACHE)
def deploy_router(model_name: str, version: str, config: DeployConfig, tracking: TrackingConfig) -> dict:
    """Serve ``models:/model_name/version``; then every segment's example through the endpoint must
    equal the registered model's own answer."""
    import mlflow

    connect(tracking)
    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    example = pd.DataFrame(model.input_example)
    target = make_target(config) if config.target != "local" else _local(config, tracking)
    status = target.deploy(model_name, version, example)
    served = target.predict(example)
    expected = model.predict(example)
    if len(served) != len(expected) or not np.allclose(served["yhat"].astype(float), expected["yhat"].astype(float), rtol=1e-6):
        raise DeployError(f"the endpoint at {status.url} answers differently from {model_name} v{version}")
    return {"target": status.target, "url": status.url, "model": status.model, "version": status.version, "segments": len(example)}


def _local(config: DeployConfig, tracking: TrackingConfig):
    from forecasting.serving.local import LocalTarget

    return LocalTarget(config, tracking)
