"""The one interface every deployment target implements."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.errors import ForecastingError


class DeployError(ForecastingError):
    """A deployment did not reach a serving state; the message says why and what still serves."""


_MODEL_NAME = re.compile(r"^[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+){0,2}$")


def check_model_reference(model_name: str, version: str) -> str:
    """Targets serve ``models:/<name>/<version>`` from the configured registry and nothing else: a
    registered model name (optionally catalog.schema.name) and an exact version number, never a run,
    a path, a storage URI, an alias or "latest". Returns the model URI."""
    if not _MODEL_NAME.match(str(model_name)):
        raise DeployError(f"{model_name!r} is not a registered model name: targets serve only models:/<name>/<version> from the configured registry")
    if not re.fullmatch(r"[0-9]+", str(version)):
        raise DeployError(f"version {version!r} of {model_name!r} is not an exact version number (aliases and 'latest' are refused)")
    return f"models:/{model_name}/{version}"


FORECAST_COLUMNS = ("yhat", "yhat_lower", "yhat_upper")


def answer_mismatch(answer: pd.DataFrame, expected: pd.DataFrame | None) -> str | None:
    """Why an endpoint's answer to the smoke request is wrong: not one forecast row per request row, or
    (given the registered model's own prediction) different numbers. None when it is right."""
    if expected is None:
        if not set(FORECAST_COLUMNS) <= set(answer.columns):
            return f"it answered with columns {list(answer.columns)}, not {', '.join(FORECAST_COLUMNS)}"
        return None
    if len(answer) != len(expected):
        return f"it answered {len(answer)} rows for {len(expected)}"
    for column in (c for c in FORECAST_COLUMNS if c in expected.columns):
        if column not in answer.columns:
            return f"its answer has no {column!r} column"
        got, want = answer[column].to_numpy(dtype=float), expected[column].to_numpy(dtype=float)
        close = np.isclose(got, want, rtol=1e-6, atol=1e-9, equal_nan=True)
        if not close.all():
            row = int(np.argmin(close))
            return f"{column} is {got[row]:.6g} instead of the registered model's own {want[row]:.6g} (row {row + 1} of the example)"
    return None


@dataclass
class EndpointStatus:
    target: str
    ready: bool
    url: str | None = None
    model: str | None = None
    version: str | None = None
    detail: str = ""
    extra: dict = field(default_factory=dict)


class DeploymentTarget(ABC):
    name: str

    @abstractmethod
    def deploy(self, model_name: str, version: str, example: pd.DataFrame | None = None,
               expected: pd.DataFrame | None = None) -> EndpointStatus:
        """Serve exactly ``models:/model_name/version``. Before the previous version stops serving (or the
        deploy is declared done), the new one must answer ``example`` with ``expected`` (the registered
        model's own prediction). On any failure after the swap started, the previous deployment serves
        again, and the :class:`DeployError` says what failed and what serves now."""

    @abstractmethod
    def status(self) -> EndpointStatus: ...

    @abstractmethod
    def predict(self, frame: pd.DataFrame, timeout: float = 30.0) -> pd.DataFrame: ...

    @abstractmethod
    def rollback(self) -> EndpointStatus:
        """Serve the previously deployed version again."""

    @abstractmethod
    def undeploy(self) -> None: ...
