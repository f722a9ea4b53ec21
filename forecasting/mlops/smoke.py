"""Smoke test of a registered model loaded by exact version: does it answer what a user will ask?"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.frequency import future_dates


@dataclass
class SmokeReport:
    model_uri: str
    failures: list[str] = field(default_factory=list)
    load_seconds: float = 0.0
    predict_seconds: float = 0.0
    requests: int = 0

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        state = "passed" if self.passed else "FAILED: " + "; ".join(self.failures)
        return f"{self.model_uri}: {state} (load {self.load_seconds:.2f}s, predict {self.predict_seconds:.3f}s)"


def horizon_request(metadata: dict, example: pd.DataFrame) -> pd.DataFrame:
    """The next ``horizon`` periods after the last observed date, with the example's covariates."""
    dates = future_dates(pd.Timestamp(metadata["last_date"]), int(metadata["horizon"]), metadata["frequency"])
    request = pd.DataFrame({"ds": dates.strftime("%Y-%m-%d")})
    covariates = [c for c in metadata.get("covariates", []) if c in example.columns]
    if covariates:
        request = request.merge(example[["ds", *covariates]], on="ds", how="left")
    return request


def check_forecast_response(request: pd.DataFrame, response: pd.DataFrame, metadata: dict, label: str = "") -> list[str]:
    """What a forecast answer must satisfy: one row per requested date, the same dates in order,
    the first on the anchor right after the last observed date, finite, ordered bounds."""
    where = f"{label}: " if label else ""
    failures = []
    if len(response) != len(request):
        return [f"{where}{len(response)} rows for {len(request)} requested dates"]
    got = pd.to_datetime(response["ds"]).dt.strftime("%Y-%m-%d").tolist()
    want = pd.to_datetime(request["ds"]).dt.strftime("%Y-%m-%d").tolist()
    if got != want:
        failures.append(f"{where}dates {got[:2]}... differ from the requested {want[:2]}...")
    first = future_dates(pd.Timestamp(metadata["last_date"]), 1, metadata["frequency"])[0]
    if min(want) != first.strftime("%Y-%m-%d"):
        failures.append(f"{where}first date {min(want)} is not the period after the last observed {metadata['last_date']}")
    values = response[["yhat", "yhat_lower", "yhat_upper"]].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        failures.append(f"{where}non-finite forecast values")
    elif not ((values[:, 1] <= values[:, 0]) & (values[:, 0] <= values[:, 2])).all():
        failures.append(f"{where}yhat_lower <= yhat <= yhat_upper does not hold")
    if metadata.get("non_negative") and (values < 0).any():
        failures.append(f"{where}negative values although the model is non-negative")
    return failures


def smoke_test(model_uri: str) -> SmokeReport:
    """Load ``models:/name/version`` (never an unpinned reference), predict its input example and an
    H-period forecast, and check both."""
    import mlflow

    report = SmokeReport(model_uri)
    started = time.perf_counter()
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except Exception as exc:  # any load failure is a failed smoke test, with its reason
        report.failures.append(f"cannot load: {type(exc).__name__}: {exc}")
        return report
    report.load_seconds = time.perf_counter() - started
    metadata = model.metadata.metadata or {}
    example = model.input_example
    if "last_date" not in metadata or example is None:
        report.failures.append("model has no forecasting metadata or input example")
        return report
    example = pd.DataFrame(example)
    horizon = horizon_request(metadata, example)
    requests = [("input example", example)]
    if not horizon.equals(example.reset_index(drop=True)):  # usually the same dates: predict them once
        requests.append(("horizon forecast", horizon))
    for label, request in requests:
        started = time.perf_counter()
        try:
            response = pd.DataFrame(model.predict(request))
        except Exception as exc:
            report.failures.append(f"{label}: predict failed: {type(exc).__name__}: {exc}")
            continue
        report.predict_seconds += time.perf_counter() - started
        report.requests += 1
        report.failures.extend(check_forecast_response(request, response, metadata, label))
    return report
