"""One MLflow pyfunc wrapper for every family: dates in, ``ds, yhat, yhat_lower, yhat_upper`` out."""

from __future__ import annotations

import functools
import importlib.metadata
import tempfile
import warnings
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature

from forecasting.contract import has_timezone
from forecasting.errors import DataError
from forecasting.models import Forecaster

PACKAGE_DIR = Path(__file__).resolve().parent
# The serving environment needs exactly these; naming them avoids MLflow's slow requirement inference.
RUNTIME_PACKAGES = ["mlflow", "pandas", "numpy", "scipy", "statsmodels", "statsforecast", "prophet", "holidays", "pydantic", "cloudpickle",
                    "hierarchicalforecast"]  # a router serving reconciled forecasts applies the frozen reconciliation with it
XGBOOST_DISTRIBUTIONS = ["xgboost-cpu", "xgboost"]


@functools.cache
def pip_requirements() -> list[str]:
    """Pinned requirements of the serving environment, from what is installed here (read once)."""
    pins = []
    for name in RUNTIME_PACKAGES:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
    for name in XGBOOST_DISTRIBUTIONS:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
            break
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def parse_request_dates(values: pd.Series) -> pd.DatetimeIndex:
    """Dates to forecast, as ISO strings or dates; timezone-aware values are refused, not converted."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        raise DataError(f"'ds' must be timezone-naive, got {values.dtype.tz}")
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.DatetimeIndex(values)
    text = values.astype(str).str.strip()
    tz = has_timezone(text)
    if tz.any():
        raise DataError(f"'ds' must be timezone-naive, got {text[tz].iloc[0]!r}")
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
    if parsed.isna().any():
        raise DataError(f"'ds' has values that are not ISO dates: {text[parsed.isna()].iloc[0]!r}")
    return pd.DatetimeIndex(parsed)


def with_iso_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with ``ds`` as ISO date strings (how every forecast leaves a model), index reset."""
    return frame.assign(ds=pd.to_datetime(frame["ds"]).dt.strftime("%Y-%m-%d")).reset_index(drop=True)


def predict_frame(forecaster: Forecaster, request: pd.DataFrame) -> pd.DataFrame:
    """Forecast the request's ``ds`` (plus covariate columns); ``ds`` comes back as ISO date strings."""
    if "ds" not in request.columns:
        raise DataError(f"the request needs a 'ds' column with the dates to forecast; got columns {list(request.columns)}")
    dates = parse_request_dates(request["ds"])
    future = request.assign(ds=dates)
    return with_iso_dates(forecaster.forecast(dates, future))


MAX_REQUEST_ROWS_ENV = "FORECAST_FLOWS_MAX_REQUEST_ROWS"
DEFAULT_MAX_REQUEST_ROWS = 100_000


def check_request_size(request: pd.DataFrame) -> None:
    """Refuse requests with more rows than ``$FORECAST_FLOWS_MAX_REQUEST_ROWS`` (default 100,000),
    read where the model is served. MLflow's scoring server has no body-size limit of its own."""
    import os

    limit = int(os.environ.get(MAX_REQUEST_ROWS_ENV) or DEFAULT_MAX_REQUEST_ROWS)
    if len(request) > limit:
        raise DataError(f"the request has {len(request):,} rows; this endpoint accepts at most {limit:,} "
                        f"({MAX_REQUEST_ROWS_ENV}): split it into smaller requests")


def as_bad_request(call):
    """Run ``call``; a user-caused error becomes an MlflowException that servers answer with 400."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    from forecasting.errors import ForecastingError

    try:
        return call()
    except ForecastingError as exc:
        raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc


class ForecastModel(mlflow.pyfunc.PythonModel):
    """The pyfunc every registered segment model is. The fitted family lives in the ``forecaster``
    artifact (Prophet as JSON); every transform is inside it, so serving equals training."""

    def load_context(self, context):
        self.forecaster = Forecaster.load(context.artifacts["forecaster"])

    def predict(self, context, model_input: pd.DataFrame, params=None):  # a DataFrame hint: no MLflow type-hint checks, no warning
        def answer():
            request = pd.DataFrame(model_input)
            check_request_size(request)
            return predict_frame(self.forecaster, request)

        return as_bad_request(answer)


def input_example(forecaster: Forecaster, future: pd.DataFrame) -> pd.DataFrame:
    """The next horizon as the model expects it: ISO dates plus the covariates it uses."""
    columns = ["ds", *(forecaster.context.covariates if forecaster.uses_covariates else ())]
    example = future[[c for c in columns if c in future.columns]].copy()
    example["ds"] = pd.to_datetime(example["ds"]).dt.strftime("%Y-%m-%d")
    return example.reset_index(drop=True)


def model_metadata(forecaster: Forecaster, segment: str, horizon: int) -> dict:
    from forecasting.mlops.global_model import global_keys

    context = forecaster.context
    return {"global_keys": global_keys(forecaster)} | {
        "segment": segment,
        "family": forecaster.name,
        "frequency": context.frequency,
        "last_date": str(forecaster.last_date.date()),
        "horizon": horizon,
        "covariates": list(context.covariates),
        "non_negative": context.non_negative,
        "level": context.level,
    }


class _PyfuncFlavor:
    """``mlflow.pyfunc`` as the flavor ``Model.log`` saves with, minus MLflow's serving-input check:
    while logging, MLflow would load the model and predict its input example once more (~0.3 s a
    segment); our smoke test does exactly that on the registered version before any promotion."""

    __name__ = "mlflow.pyfunc"

    @staticmethod
    def save_model(**kwargs):
        kwargs.pop("validate_serving_input", None)
        return mlflow.pyfunc.save_model(**kwargs)


def log_pyfunc(name: str, python_model, artifacts: dict[str, str], example: pd.DataFrame, signature, metadata: dict):
    """Log a pyfunc in the active run the way every model of ours is logged: explicit pinned
    requirements (no slow inference), the ``forecasting`` package as code, signature and example."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mlflow.models.Model.log(
            artifact_path=None,
            flavor=_PyfuncFlavor,
            validate_serving_input=False,
            name=name,
            python_model=python_model,
            artifacts=artifacts,
            signature=signature,
            input_example=example,
            pip_requirements=list(pip_requirements()),
            code_paths=[str(PACKAGE_DIR)],
            metadata=metadata,
        )


def log_forecaster(forecaster: Forecaster, segment: str, future: pd.DataFrame, horizon: int, name: str = "model",
                   forecast: pd.DataFrame | None = None):
    """Log a fitted forecaster as a pyfunc model in the active run; returns MLflow's ModelInfo.
    ``forecast``: its forecast of ``future`` when already made (the signature's output example;
    otherwise the model predicts again)."""
    example = input_example(forecaster, future)
    if forecast is not None and len(forecast) == len(example):
        output = with_iso_dates(forecast)
    else:
        output = predict_frame(forecaster, example)
    signature = infer_signature(example, output)
    with tempfile.TemporaryDirectory() as tmp:
        artifact = forecaster.save(Path(tmp) / "forecaster")
        return log_pyfunc(name, ForecastModel(), {"forecaster": str(artifact)}, example, signature,
                          model_metadata(forecaster, segment, horizon))
