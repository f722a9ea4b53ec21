"""The run's global model in MLflow: logged once per run and frequency as its own pyfunc, registered as
its own model (``{prefix}_global_{frequency}``) with the ``champion`` alias after a smoke test, and found
again by its key (the ``global_key`` tag) when a router freezes the champions that use it.

A segment's champion that uses it (the global family, or an ensemble with it as a member) holds a
:class:`~forecasting.models.global_model.GlobalMember`: standalone it serves the run's horizon from the
forecast it was created with; a router attaches the global model (loaded once for every segment) and
then serves any horizon."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature

from forecasting.errors import DataError
from forecasting.frequency import future_dates
from forecasting.mlops.config import RegistryConfig
from forecasting.mlops.pyfunc import as_bad_request, check_request_size, log_pyfunc, parse_request_dates
from forecasting.mlops.smoke import SmokeReport
from forecasting.models.ensemble import EnsembleForecaster
from forecasting.models.global_model import GlobalMember, GlobalModel

GLOBAL_KEY = "global_key"


def global_keys(forecaster) -> list[str]:
    """The global models a fitted champion refers to (itself, or its ensemble's members)."""
    members = forecaster.members if isinstance(forecaster, EnsembleForecaster) else [forecaster]
    return sorted({m.global_key for m in members if isinstance(m, GlobalMember)})


def attach_global(forecaster, models: dict[str, GlobalModel]) -> None:
    """Attach each global member of ``forecaster`` to its global model (by key) when ``models`` has it."""
    members = forecaster.members if isinstance(forecaster, EnsembleForecaster) else [forecaster]
    for member in members:
        if isinstance(member, GlobalMember) and member.global_key in models:
            member.attach(models[member.global_key])


class GlobalPyfunc(mlflow.pyfunc.PythonModel):
    """Rows of ``segment`` (a segment key the model was trained on) and ``ds`` in; the same rows with
    ``yhat`` out (the global model's point forecast; intervals come with each segment's champion)."""

    def load_context(self, context):
        self.model = GlobalModel.load(context.artifacts["global"])

    def predict(self, context, model_input: pd.DataFrame, params=None):
        return as_bad_request(lambda: global_request(self.model, pd.DataFrame(model_input)))


def global_request(model: GlobalModel, request: pd.DataFrame) -> pd.DataFrame:
    check_request_size(request)
    missing = [c for c in ("segment", "ds") if c not in request.columns]
    if missing:
        raise DataError(f"the request needs column(s) {', '.join(missing)}")
    unknown = sorted(set(request["segment"]) - set(model.trained_through))
    if unknown:
        raise DataError(f"unknown segment {unknown[0]!r}; the global model was trained on {len(model.trained_through)} segment(s)")
    dates = parse_request_dates(request["ds"])
    out = request[["segment"]].copy()
    out["ds"] = dates.strftime("%Y-%m-%d")
    out["yhat"] = float("nan")
    for segment, rows in out.groupby("segment", sort=False):
        last = pd.Timestamp(model.trained_through[segment])
        wanted = pd.DatetimeIndex(rows["ds"])
        steps = len(pd.date_range(last, wanted.max(), freq=model.frequency)) - 1
        if steps < 1 or (wanted <= last).any():
            raise DataError(f"segment {segment!r}: dates must be after its last observation {last.date()}")
        path = model.predict([segment], steps).get(segment)
        out.loc[rows.index, "yhat"] = path.set_index("ds")["yhat"].reindex(wanted).to_numpy(float)
    return out


def log_global(model: GlobalModel, name: str = "global_model"):
    """Log the global model in the active run as its own pyfunc; returns MLflow's ModelInfo."""
    keys = sorted(model.trained_through)
    example = pd.DataFrame({"segment": keys[:3], "ds": [future_dates(pd.Timestamp(model.trained_through[k]), 1, model.frequency)[0].strftime("%Y-%m-%d")
                                                      for k in keys[:3]]})
    output = global_request(model, example)
    with tempfile.TemporaryDirectory() as tmp:
        artifact = model.save(Path(tmp) / "global")
        metadata = {"kind": "global", GLOBAL_KEY: model.key, "frequency": model.frequency, "segments": len(keys)}
        return log_pyfunc(name, GlobalPyfunc(), {"global": str(artifact)}, example, infer_signature(example, output), metadata)


def global_name(registry: RegistryConfig, frequency: str) -> str:
    """``{prefix}_global_{frequency}`` (in Unity Catalog, under the catalog and schema)."""
    return registry.global_name(frequency)


def smoke_test_global(model_uri: str) -> SmokeReport:
    """Load the registered global model by exact version and forecast one period of every segment."""
    report = SmokeReport(model_uri)
    started = time.perf_counter()
    try:
        loaded = mlflow.pyfunc.load_model(model_uri)
        model = loaded.unwrap_python_model().model
    except Exception as exc:
        report.failures.append(f"cannot load: {type(exc).__name__}: {exc}")
        return report
    report.load_seconds = time.perf_counter() - started
    keys = sorted(model.trained_through)
    request = pd.DataFrame({"segment": keys, "ds": [future_dates(pd.Timestamp(model.trained_through[k]), 1, model.frequency)[0].strftime("%Y-%m-%d")
                                                    for k in keys]})
    started = time.perf_counter()
    try:
        answer = loaded.predict(request)
    except Exception as exc:
        report.failures.append(f"predict failed: {type(exc).__name__}: {exc}")
        return report
    report.predict_seconds, report.requests = time.perf_counter() - started, 1
    if len(answer) != len(request) or not pd.to_numeric(answer["yhat"], errors="coerce").notna().all():
        report.failures.append("the global model did not forecast every segment it was trained on")
    return report


def registered_global(client, registry: RegistryConfig, frequency: str, key: str) -> str | None:
    """The registered version of ``global_name(frequency)`` whose ``global_key`` tag is ``key``."""
    from forecasting.mlops.registry import versions_of

    found = [v for v in versions_of(client, global_name(registry, frequency)) or [] if (v.tags or {}).get(GLOBAL_KEY) == key]
    return str(max(found, key=lambda v: int(v.version)).version) if found else None
