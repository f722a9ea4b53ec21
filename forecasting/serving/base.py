"""The one interface every deployment target implements."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

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
    def deploy(self, model_name: str, version: str, example: pd.DataFrame | None = None) -> EndpointStatus:
        """Serve exactly ``models:/model_name/version``; the previous deployment keeps serving if this fails."""

    @abstractmethod
    def status(self) -> EndpointStatus: ...

    @abstractmethod
    def predict(self, frame: pd.DataFrame, timeout: float = 30.0) -> pd.DataFrame: ...

    @abstractmethod
    def rollback(self) -> EndpointStatus:
        """Serve the previously deployed version again."""

    @abstractmethod
    def undeploy(self) -> None: ...
