"""Where local state lives, and how to reach MLflow. One pydantic model per concern."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field

STATE_ENV = "FORECAST_FLOWS_HOME"


def state_dir() -> Path:
    """The one local state directory (MLflow database and artifacts, serving pids and logs, Prefect
    results): ``$FORECAST_FLOWS_HOME`` or ``./.forecast-flows``."""
    path = Path(os.environ.get(STATE_ENV, ".forecast-flows")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


class TrackingConfig(BaseModel):
    """MLflow tracking and registry. Unset URIs fall back to the MLflow environment variables, then to
    SQLite and a local artifact root inside the state directory."""

    experiment: str = Field("finance-forecast", description="one stable experiment per pipeline")
    tracking_uri: str | None = None
    registry_uri: str | None = Field(None, description="e.g. databricks-uc for Unity Catalog")
    artifact_root: str | None = None

    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir() / 'mlflow.db'}"

    def resolved_registry_uri(self) -> str | None:
        return self.registry_uri or os.environ.get("MLFLOW_REGISTRY_URI")

    def resolved_artifact_root(self) -> str | None:
        """Local artifact root for a local (SQLite/file) tracking store; servers choose their own."""
        if self.artifact_root:
            return self.artifact_root
        if self.resolved_tracking_uri().startswith(("sqlite:", "file:")):
            return (state_dir() / "mlartifacts").as_uri()
        return None
