"""The one interface every deployment target implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import pandas as pd

from forecasting.errors import ForecastingError


class DeployError(ForecastingError):
    """A deployment did not reach a serving state; the message says why and what still serves."""


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
