"""Deployment targets behind one interface: deploy a registered version, status, predict, roll back,
undeploy. ``local`` (default) runs ``mlflow models serve`` on loopback; ``databricks`` uses Model Serving."""

from forecasting.serving.base import DeployError, DeploymentTarget, EndpointStatus
from forecasting.serving.config import DeployConfig


def make_target(config: DeployConfig) -> DeploymentTarget:
    if config.target == "databricks":
        from forecasting.serving.databricks import DatabricksTarget

        return DatabricksTarget(config)
    from forecasting.serving.local import LocalTarget

    return LocalTarget(config)


__all__ = ["DeployConfig", "DeployError", "DeploymentTarget", "EndpointStatus", "make_target"]
