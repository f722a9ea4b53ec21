"""Deployments come from one place: `prefect.yaml` is what `deployments.catalog` renders, and
`deployments.serve` builds the same deployments from the catalog."""

from __future__ import annotations

import yaml
from conftest import ROOT


def test_prefect_yaml_is_the_rendered_catalog(monkeypatch):
    monkeypatch.delenv("FORECAST_FLOWS_TIMEZONE", raising=False)
    from deployments.render import document

    on_disk = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert on_disk == document(), "prefect.yaml differs from deployments/catalog.py: run python -m deployments.render"


def test_every_deployment_names_a_flow_and_has_one_schedule():
    from deployments.catalog import DEPLOYMENTS
    from deployments.serve import load_flow

    for d in DEPLOYMENTS:
        flow = load_flow(d.entrypoint)
        assert hasattr(flow, "to_deployment"), d.entrypoint
        assert (d.cron is None) != (d.interval_seconds is None), d.name


def test_the_comparison_retrains_through_the_training_deployment_that_exists():
    from deployments.catalog import DEPLOYMENTS
    from flows.parameters import TRAINING_DEPLOYMENT, ComparisonParameters

    training = next(d for d in DEPLOYMENTS if d.entrypoint.endswith(":forecast_training"))
    assert TRAINING_DEPLOYMENT == f"forecast-training/{training.name}"
    assert ComparisonParameters(actuals_path="x").training_deployment == TRAINING_DEPLOYMENT
