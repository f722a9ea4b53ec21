"""Where MLflow tracking and the registry live, and how registered models are named. Pure settings:
importing them costs no MLflow import."""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from forecasting.contract import segment_slug
from forecasting.errors import ConfigError
from forecasting.system.state import state_dir

PLOT_AUTO_MAX_SEGMENTS = 50  # forecast_plot "auto": a PNG per segment up to this many segments in a run
_UC_PART = re.compile(r"^[a-z0-9_]{1,255}$")
_WORKSPACE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,255}$")


class TrackingConfig(BaseModel):
    """MLflow tracking and registry. Unset URIs fall back to the MLflow environment variables, then to
    SQLite and a local artifact root inside the state directory, in the process that asks: a run
    resolves them once, where it starts (:meth:`resolved`), and hands its tasks the concrete values."""

    experiment: str = Field("finance-forecast", description="one stable experiment per pipeline")
    tracking_uri: str | None = None
    registry_uri: str | None = Field(None, description="e.g. databricks-uc for Unity Catalog; empty: MLflow's default for the tracking URI")
    artifact_root: str | None = None
    forecast_plot: Literal["auto", "always", "never"] = Field(
        "auto", description=f"forecast.png in each segment's run: auto = when the run trains at most {PLOT_AUTO_MAX_SEGMENTS} segments")

    def for_run(self, segments: int) -> "TrackingConfig":
        """These settings for a run of ``segments`` segments: ``forecast_plot`` auto decided."""
        if self.forecast_plot != "auto":
            return self
        return self.model_copy(update={"forecast_plot": "always" if segments <= PLOT_AUTO_MAX_SEGMENTS else "never"})

    def resolved(self) -> "TrackingConfig":
        """These settings with every location concrete, read from this process's environment and state
        directory now: the tracking URI, the registry URI (empty: MLflow's default for the tracking URI)
        and the artifact root. Tasks given the result read no environment of their own, so a worker on
        another machine logs where the run does."""
        return self.model_copy(update={"tracking_uri": self.resolved_tracking_uri(), "registry_uri": self.resolved_registry_uri() or "",
                                       "artifact_root": self.resolved_artifact_root()})

    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir() / 'mlflow.db'}"

    def resolved_registry_uri(self) -> str | None:
        if self.registry_uri == "":  # resolved: the tracking URI's default, whatever this process's environment says
            return None
        return self.registry_uri or os.environ.get("MLFLOW_REGISTRY_URI")

    def local_paths(self) -> list[str]:
        """The locations of these settings that are files on this machine (a SQLite or file store, a
        file artifact root): a process on another machine cannot reach them."""
        uris = [self.resolved_tracking_uri(), self.resolved_registry_uri() or "", self.resolved_artifact_root() or ""]
        return [uri for uri in dict.fromkeys(uris) if uri.startswith(("sqlite:", "file:", "/", "./", "mlruns"))]

    def resolved_artifact_root(self) -> str | None:
        """Where a new experiment's artifacts go when MLflow talks to a database or file store directly
        (SQLite, PostgreSQL): the state directory unless set; a tracking server chooses its own."""
        if self.artifact_root:
            return self.artifact_root
        if not self.resolved_tracking_uri().startswith(("http:", "https:", "databricks")):  # SQLite, PostgreSQL, a file store
            return (state_dir() / "mlartifacts").as_uri()
        return None


class RegistryConfig(BaseModel):
    """Registered model names: ``{prefix}_{segment slug}``; in Unity Catalog
    ``{catalog}.{schema}.{prefix}_{segment slug}``."""

    model_prefix: str = Field("forecast", description="prefix of every registered model name")
    uc_catalog: str | None = Field(None, description="Unity Catalog catalog (with uc_schema)")
    uc_schema: str | None = None
    router_suffix: str = "router"

    @model_validator(mode="after")
    def _both_or_neither(self) -> "RegistryConfig":
        if bool(self.uc_catalog) != bool(self.uc_schema):
            raise ValueError("Unity Catalog needs both uc_catalog and uc_schema")
        if self.uc_catalog:
            for part in (self.uc_catalog, self.uc_schema, self.model_prefix):
                validate_uc_part(part)
        return self

    @property
    def unity_catalog(self) -> bool:
        return bool(self.uc_catalog)

    def name_for(self, segment_key: str) -> str:
        return self._qualify(f"{self.model_prefix}_{segment_slug(segment_key)}")

    def router_name(self) -> str:
        return self._qualify(f"{self.model_prefix}_{self.router_suffix}")

    def global_name(self, frequency: str) -> str:
        """The run's global model of a frequency: ``{prefix}_global_{frequency}``, e.g. forecast_global_ms."""
        return self._qualify(f"{self.model_prefix}_global_{frequency.lower().replace('-', '_')}")

    def global_names(self) -> set[str]:
        """Every name a global model under this prefix can have (one per supported frequency)."""
        from forecasting.frequency import SUPPORTED

        return {self.global_name(frequency) for frequency in SUPPORTED}

    def _qualify(self, leaf: str) -> str:
        name = f"{self.uc_catalog}.{self.uc_schema}.{leaf.lower()}" if self.unity_catalog else leaf
        validate_model_name(name, self.unity_catalog)
        return name


def validate_uc_part(part: str) -> None:
    if not _UC_PART.match(part or ""):
        raise ConfigError(f"Unity Catalog name part {part!r} must be lowercase letters, digits and underscores")


def validate_model_name(name: str, unity_catalog: bool) -> None:
    """Checked before anything is uploaded, so a bad name never leaves a half-registered model."""
    if unity_catalog:
        parts = name.split(".")
        if len(parts) != 3:
            raise ConfigError(f"Unity Catalog model name {name!r} must be three-level catalog.schema.model")
        for part in parts:
            validate_uc_part(part)
    elif not _WORKSPACE_NAME.match(name):
        raise ConfigError(f"registered model name {name!r} may use letters, digits, '_', '.', '-' only")
