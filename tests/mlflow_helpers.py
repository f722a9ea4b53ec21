"""Real MLflow (SQLite in a temporary directory) for tests, and helpers that fit a chosen family."""

from __future__ import annotations

import contextlib
import os

import mlflow
import pandas as pd

from forecasting.backtest import series_context
from forecasting.contract import DataSpec
from forecasting.mlops.config import TrackingConfig
from forecasting.mlops.pyfunc import log_forecaster
from forecasting.mlops.tracking import connect, start_training_run
from forecasting.models import ModelSpec, make_forecaster
from forecasting.validation import ValidationPolicy, validate


@contextlib.contextmanager
def local_mlflow(home):
    """A fresh local state directory: MLflow on SQLite with its artifacts inside ``home``."""
    old = {k: os.environ.get(k) for k in ("FORECAST_FLOWS_HOME", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    os.environ["FORECAST_FLOWS_HOME"] = str(home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)
    try:
        config = TrackingConfig(experiment="tests")
        yield config, connect(config)
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        mlflow.set_tracking_uri(None)


def prepared_segments(frame: pd.DataFrame, horizon: int = 14, **spec):
    report, prepared = validate(frame, DataSpec(**spec), ValidationPolicy(), horizon, 2)
    return report, prepared


def log_family(config: TrackingConfig, family: str, segment, horizon: int = 14, models: ModelSpec | None = None):
    """Fit ``family`` on the whole segment and log it as a model in a fresh run; (run_id, model_uri)."""
    forecaster = make_forecaster(family, series_context(segment, models or ModelSpec(holidays_country=None))).fit(segment.history)
    run_id = start_training_run(config, {"test": family})
    with mlflow.start_run(run_id=run_id):
        info = log_forecaster(forecaster, segment.key, segment.future, horizon)
    return run_id, info.model_uri, forecaster


SERVED_ENV = "__pyfunc_model_path__"  # set by `mlflow models serve` in the scoring process only


def _served() -> bool:
    return SERVED_ENV in os.environ


class ServedBehaviour(mlflow.pyfunc.PythonModel):
    """A real registered model that forecasts ``level`` for every requested date, and behaves as ``mode``
    says only where `mlflow models serve` runs it: ``same`` (like in process), ``wrong`` (answers
    ``level + 1000``), ``crash`` (the server process dies mid-request), ``slow`` (never finishes loading)."""

    def __init__(self, level: float, mode: str = "same"):
        self.level, self.mode = float(level), mode

    def load_context(self, context):
        if self.mode == "slow" and _served():
            import time

            time.sleep(3600)

    def predict(self, context, model_input: pd.DataFrame, params=None):
        served = _served()
        if self.mode == "crash" and served:
            os._exit(3)
        level = self.level + (1000.0 if self.mode == "wrong" and served else 0.0)
        frame = pd.DataFrame(model_input)
        return pd.DataFrame({"ds": frame["ds"].astype(str), "yhat": level, "yhat_lower": level - 1.0, "yhat_upper": level + 1.0})


def register_served_model(config: TrackingConfig, name: str, level: float, mode: str = "same") -> str:
    """Log a :class:`ServedBehaviour` in a fresh run and register it as a new version of ``name``."""
    from forecasting.mlops.registry import register

    example = pd.DataFrame({"ds": ["2024-07-19", "2024-07-20"]})
    run_id = start_training_run(config, {"test": f"served-{mode}"})
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(name="model", python_model=ServedBehaviour(level, mode), input_example=example,
                                       code_paths=[__file__], pip_requirements=["mlflow"])
    return register(connect(config), name, info.model_uri, run_id, {}).version
