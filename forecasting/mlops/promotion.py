"""Register -> smoke test -> promote, per segment: the ``champion`` alias moves only after the exact
registered version passed its smoke test; a failed version is tagged and the alias stays put."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from mlflow.tracking import MlflowClient

from forecasting.mlops.champion_forecasts import record_champion_forecast
from forecasting.mlops.registry import (
    CHALLENGER,
    CHAMPION,
    RegisteredVersion,
    alias_version,
    register,
    set_alias,
    tag_version,
)
from forecasting.mlops.smoke import SmokeReport, smoke_test


@dataclass
class PublishResult:
    segment: str
    name: str
    version: str
    reused: bool
    smoke: SmokeReport
    previous_champion: str | None

    @property
    def promoted(self) -> bool:
        return self.smoke.passed


def register_challenger(client: MlflowClient, name: str, model_uri: str, run_id: str, tags: dict[str, str]) -> RegisteredVersion:
    version = register(client, name, model_uri, run_id, tags)
    set_alias(client, name, CHALLENGER, version.version)
    return version


def promote(client: MlflowClient, version: RegisteredVersion, report: SmokeReport, run_id: str | None = None,
            forecast: list[dict] | None = None, segment: str = "", family: str | None = None) -> None:
    """Tag the passed smoke test, persist the champion's forecast (for the actuals comparison), then
    move the ``champion`` alias: the alias moves last, so a failure before it changes nothing users see."""
    if forecast and run_id:
        record_champion_forecast(client, run_id, segment, family, version.name, version.version, forecast)
    tag_version(client, version.name, version.version, {"smoke_test": "passed", "smoke_load_seconds": f"{report.load_seconds:.3f}", "smoke_predict_seconds": f"{report.predict_seconds:.3f}"})
    set_alias(client, version.name, CHAMPION, version.version)


def mark_failed(client: MlflowClient, version: RegisteredVersion, report: SmokeReport) -> None:
    tag_version(client, version.name, version.version, {"smoke_test": "failed", "smoke_failures": "; ".join(report.failures)[:4000]})


def publish(
    client: MlflowClient,
    segment: str,
    name: str,
    model_uri: str,
    run_id: str,
    tags: dict[str, str],
    check: Callable[[str], SmokeReport] = smoke_test,
    forecast: list[dict] | None = None,
) -> PublishResult:
    """Register as ``challenger``, smoke-test that exact version, then promote it to ``champion``
    or tag it as failed."""
    previous = alias_version(client, name, CHAMPION)
    version = register_challenger(client, name, model_uri, run_id, tags)
    report = check(version.uri)
    if report.passed:
        promote(client, version, report, run_id, forecast, segment, tags.get("champion_family"))
    else:
        mark_failed(client, version, report)
    return PublishResult(segment, name, version.version, version.reused, report, previous)
