"""The parameters of every flow, one typed model each: the Prefect UI renders them as forms, schedules
and `prefect.yaml` set them, the CLI fills them from its flags. No Prefect import here, so the CLI
builds them without starting Prefect."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from flows.paths import resolve_input
from forecasting.backtest import BacktestSpec
from forecasting.contract import DataSpec
from forecasting.hierarchy.levels import HierarchySpec
from forecasting.forecast_table import ForecastTableTarget
from forecasting.mlops.config import RegistryConfig, TrackingConfig
from forecasting.models import ModelSpec
from forecasting.ops.comparison import ComparisonPolicy
from forecasting.ops.llm_summary import SummaryConfig
from forecasting.pipeline import ForecastJob
from forecasting.serving.config import DeployConfig
from forecasting.sources import DataSource
from forecasting.validation import ValidationPolicy

SAMPLE_DATA = "examples/data/finance_segments.csv"
TRAINING_DEPLOYMENT = "forecast-training/weekly-retraining"


# Task runs per worker when segments_per_task is not set: each run costs Prefect state writes and a gap
# while the next is scheduled (benchmarks/overhead.py); more than a few per worker buys little balance.
TASKS_PER_WORKER = 8


class RunPolicy(BaseModel):
    """How the run behaves as a whole."""

    task_runner: Literal["processes", "threads", "dask"] = Field(
        "processes", description="how segments train side by side: processes (every core of this machine), threads, or dask (a cluster)")
    workers: int | None = Field(None, ge=1, le=1024, description="segments trained at once (default: the cores this machine lets the run use)")
    dask_address: str | None = Field(None, description="tcp://host:port of a Dask scheduler, for task_runner dask (default: a local cluster)")
    max_failed_fraction: float = Field(0.25, ge=0, le=1, description="fail the run when more segments than this fail")
    segments_per_task: int | None = Field(None, ge=1, le=1000, description="this many segments per task run (default: chunks of "
                                          "segments / (8 x workers), the last runs of a pass smaller, down to one segment, "
                                          "so workers finish together)")

    def chunk_size(self, segments: int, workers: int) -> int:
        """Segments per task run: the one set, else ceil(segments / (workers x TASKS_PER_WORKER))."""
        if self.segments_per_task:
            return self.segments_per_task
        return max(1, -(-segments // (max(workers, 1) * TASKS_PER_WORKER)))
    segment_timeout_seconds: int = Field(600, ge=10, description="timeout per segment (a chunk gets this x its size)")
    retry_backoff_seconds: float = Field(2.0, ge=0, description="first retry delay of service calls; doubles each retry")
    result_storage: str | None = Field(None, description="Prefect storage block for task results, e.g. s3-bucket/results (default: Prefect's "
                                       "default result storage when set, else local, in the state directory)")

    @model_validator(mode="after")
    def _address_needs_dask(self) -> "RunPolicy":
        if self.dask_address and self.task_runner != "dask":
            raise ValueError(f"dask_address is for task_runner 'dask', not {self.task_runner!r}")
        return self


class SourceParameters(DataSource):
    """A data source in run parameters: a file, or a URL with a query or a table. Credentials never go
    here: they come from the environment of the process that reads, or from ``credentials_block``."""

    credentials_block: str | None = Field(None, description="SQL sources: a prefect-sqlalchemy SqlAlchemyConnector block holding the "
                                                            "user and password (default: PGPASSWORD / ~/.pgpass or FORECAST_FLOWS_SQL_PASSWORD)")


class ForecastTableParameters(ForecastTableTarget):
    """The forecast table a run appends its vintage to (see :mod:`forecasting.forecast_table`)."""

    credentials_block: str | None = Field(None, description="SQL databases: a prefect-sqlalchemy SqlAlchemyConnector block holding the "
                                                            "user and password (default: the environment)")


class TrainingParameters(BaseModel):
    """Everything a training run needs; the Prefect UI renders it as a form and validates it before a run."""

    data_path: str = Field(SAMPLE_DATA, description="CSV, Parquet or Excel (.xlsx) long table (relative paths: working directory, then the project)")
    delimiter: str = "auto"
    sheet: str | None = Field(None, description="Excel sheet name, or its position from 0 (default: the first)")
    covariates_path: str | None = Field(None, description="a separate covariates table joined on the date (and the segment columns it has)")
    data_source: SourceParameters | None = Field(None, description="a file, or a database (SQLAlchemy URL or databricks://catalog.schema.table) "
                                                                   "with a query or a table; replaces data_path, delimiter and sheet")
    forecast_table: ForecastTableParameters | None = Field(None, description="append this run's forecasts, with lineage, to this table")
    data: DataSpec = Field(default_factory=lambda: DataSpec(segment_cols=["region", "product"]))
    validation: ValidationPolicy = Field(default_factory=ValidationPolicy)
    models: ModelSpec = Field(default_factory=ModelSpec)
    backtest: BacktestSpec = Field(default_factory=BacktestSpec)
    hierarchy: HierarchySpec = Field(default_factory=HierarchySpec, description="every level of the segment columns forecast and reconciled "
                                     "(reconcile: none, a method, or auto); levels as 'region;region,product'")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    deploy: DeployConfig = Field(default_factory=DeployConfig)
    only_segments: list[str] = Field(default_factory=list, description="retrain only these segment keys, e.g. region=EU|product=A (empty: all)")
    skip_deploy: bool = Field(False, description="stop after promoting the champions (no router, no endpoint)")
    policy: RunPolicy = Field(default_factory=RunPolicy)
    summary: SummaryConfig = Field(default_factory=SummaryConfig, description="executive summary: template, or an LLM rewrite")

    @model_validator(mode="after")
    def _unity_catalog_registry(self) -> "TrainingParameters":
        """Unity Catalog names with a registry that is not Unity Catalog would fail at the first
        registration, after all the training: refuse them before the run starts."""
        registry = self.tracking.registry_uri or os.environ.get("MLFLOW_REGISTRY_URI") or ""
        if self.registry.unity_catalog and not registry.startswith("databricks-uc"):
            raise ValueError("registry.uc_catalog/uc_schema need the Unity Catalog registry: set tracking.registry_uri to databricks-uc "
                             "(or MLFLOW_REGISTRY_URI)")
        return self

    def job(self) -> ForecastJob:
        return ForecastJob(data=self.data, validation=self.validation, models=self.models, backtest=self.backtest)

    def resolved_data_path(self) -> str:
        return resolve_input(self.data_path)

    def source(self) -> SourceParameters:
        """What the run reads: ``data_source``, else the file ``data_path`` (relative paths resolved)."""
        return resolved_source(self.data_source) if self.data_source else SourceParameters(
            location=self.resolved_data_path(), delimiter=self.delimiter, sheet=self.sheet)

    def resolved_covariates_path(self) -> str | None:
        return resolve_input(self.covariates_path) if self.covariates_path else None


class ComparisonParameters(BaseModel):
    actuals_path: str | None = Field(None, description="actuals in the training data contract (CSV or Parquet)")
    actuals_source: SourceParameters | None = Field(None, description="actuals from a file or a database with a query or a table "
                                                                      "(instead of actuals_path)")
    forecast_table: ForecastTableParameters | None = Field(None, description="compare with this forecast table's vintages "
                                                                             "(segments it lacks: the forecasts MLflow kept at promotion)")
    delimiter: str = "auto"
    data: DataSpec = Field(default_factory=lambda: DataSpec(segment_cols=["region", "product"]))
    policy: ComparisonPolicy = Field(default_factory=ComparisonPolicy)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    training_deployment: str = Field(TRAINING_DEPLOYMENT, description="flow/deployment started for drifting segments when on_drift=retrain")
    output_path: str | None = Field(None, description="per-segment report (.csv, .parquet or .xlsx); default: the state directory")
    summary: SummaryConfig = Field(default_factory=SummaryConfig)

    @model_validator(mode="after")
    def _one_actuals(self) -> "ComparisonParameters":
        if bool(self.actuals_path) == bool(self.actuals_source):
            raise ValueError("give the actuals as actuals_path (a file) or actuals_source (a file or a database), one of them")
        return self

    def source(self) -> SourceParameters:
        return resolved_source(self.actuals_source) if self.actuals_source else SourceParameters(
            location=resolve_input(self.actuals_path), delimiter=self.delimiter)


class BatchInferenceParameters(BaseModel):
    horizon: int | None = Field(None, ge=1, le=10_000, description="periods to forecast (default: each model's trained horizon)")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    output_path: str | None = Field(None, description=".csv, .parquet or .xlsx; default: the state directory")
    forecast_table: ForecastTableParameters | None = Field(None, description="also append the forecasts, with lineage, to this table")
    models_per_task: int = Field(25, ge=1, le=1000)
    max_failed_fraction: float = Field(0.0, ge=0, le=1, description="fail the run when more segments than this fail")


def resolved_source(source: SourceParameters) -> SourceParameters:
    """Relative file paths resolved like data_path (working directory, then the project)."""
    if source.kind != "file":
        return source
    return source.model_copy(update={"location": resolve_input(source.location)})


class CleanupParameters(BaseModel):
    keep: int = Field(5, ge=1, description="newest versions kept per model (aliased versions are always kept)")
    dry_run: bool = Field(True, description="only report what would be deleted")
    include_router: bool = True
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)


class MonitorParameters(BaseModel):
    deploy: DeployConfig = Field(default_factory=DeployConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    probes: int = Field(5, ge=1, le=100, description="timed forecast requests per check")
    max_latency_ms: float = Field(2000.0, gt=0, description="p95 latency above this is unhealthy")
