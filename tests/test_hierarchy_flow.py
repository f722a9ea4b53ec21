"""A reconciled hierarchy through the forecast-training flow on a real Prefect test API, real MLflow
(SQLite) and real local serving (`mlflow models serve` on loopback): every node trained and registered
like any segment, a reconcile stage with its artifacts, components that add up to the reconciled
forecasts with a bridge per node and the total's waterfall, and a router that serves numbers that add up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from mlflow_helpers import local_mlflow

pytestmark = pytest.mark.slow
SAMPLE = ROOT / "examples" / "data" / "tourism_zones.csv"


def params(**overrides):
    from flows.training import TrainingParameters

    base = {"data_path": str(SAMPLE), "data": {"segment_cols": ["state", "zone"]},
            "models": {"models": ["ets", "theta"], "holidays_country": None}, "backtest": {"horizon": 4, "folds": 3},
            "hierarchy": {"reconcile": "auto"}, "tracking": {"experiment": "hierarchy-flow"}, "policy": {"retry_backoff_seconds": 0.1}}
    base.update(overrides)
    return TrainingParameters.model_validate(base)


@pytest.fixture(scope="module")
def trained(prefect_harness, tmp_path_factory):
    from flows.training import forecast_training
    from forecasting.serving.local import LocalTarget

    home = tmp_path_factory.mktemp("hierarchy-flow")
    with local_mlflow(home) as (config, client):
        state = forecast_training(params(), return_state=True)
        yield {"state": state, "client": client, "home": home}
        LocalTarget().undeploy()


def test_every_node_is_trained_registered_and_reconciled(trained):
    assert trained["state"].is_completed(), trained["state"].message
    report = trained["state"].result()
    rows = {row["segment"]: row for row in report["segments"]}
    assert len(rows) == 20 and all(row["status"] == "trained" and row["version"] for row in rows.values())
    assert "state=<all>|zone=<all>" in rows and "state=NSW|zone=<all>" in rows  # the total and a region are segments too
    reconciliation = report["reconciliation"]
    assert reconciliation["method"] in ("bottom_up", "ols", "wls_struct", "mint_shrink") and reconciliation["asked"] == "auto"
    assert reconciliation["coherence_gap"] < 1e-6 and reconciliation["why"]
    assert {level["level"] for level in reconciliation["levels"]} == {"total", "state", "zone", "state,zone", "all levels"}
    run = trained["client"].get_run(report["mlflow_parent_run_id"])
    assert run.data.tags["reconciliation"].startswith(reconciliation["method"])
    assert {a.path for a in trained["client"].list_artifacts(run.info.run_id, "reconciliation")} == \
        {f"reconciliation/{name}" for name in ("levels.csv", "reconciliation.pkl", "components.csv", "bridges.csv", "waterfall_total.png")}


def run_artifacts(state) -> dict:
    import asyncio

    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    flow_run_id = state.state_details.flow_run_id

    async def read():
        async with get_client() as api:
            return await api.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))

    return {a.key: a for a in asyncio.run(read())}


def test_the_reconcile_stage_leaves_its_artifacts(trained):
    artifacts = run_artifacts(trained["state"])
    assert {"reconciliation", "reconciled-total"} <= set(artifacts)
    assert "data:image/png;base64," in artifacts["reconciled-total"].data


def test_the_components_add_up_to_the_reconciled_forecasts_kept_with_the_champions(trained, tmp_path):
    """Every node's child run has its own components, bridge and waterfall; the parent run has every
    node's components with the reconciliation component, and they add up to the forecast kept with the
    node's champion, which is the reconciled one (the total equals the sum of the states)."""
    from forecasting.explain.components import PREFIX
    from forecasting.mlops.champion_forecasts import version_forecast

    client, report = trained["client"], trained["state"].result()
    rows = {row["segment"]: row for row in report["segments"]}
    for key in ("state=<all>|zone=<all>", "state=NSW|zone=Coast"):
        run = client.get_run(rows[key]["mlflow_run_id"])
        assert {"components.csv", "bridge.csv", "waterfall.png"} <= {a.path for a in client.list_artifacts(run.info.run_id)}
        assert run.data.tags["bridge"].startswith("last year ") and run.data.tags["decomposition"]
        assert 0 < rows[key]["explain_seconds"] < rows[key]["train_seconds"]
    kept = pd.concat([version_forecast(client, row["registered_model"], row["version"]) for row in rows.values()], ignore_index=True)
    parent = report["mlflow_parent_run_id"]
    components = pd.read_csv(client.download_artifacts(parent, "reconciliation/components.csv", str(tmp_path)))
    assert set(components["segment"]) == set(rows) and (components["component_reconciliation"].abs() > 0).any()
    merged = components.assign(ds=components["ds"].str[:10]).merge(kept[["segment", "ds", "yhat"]], on=["segment", "ds"], validate="1:1")
    assert len(merged) == len(kept) == 20 * 4
    parts = [c for c in components.columns if c.startswith(PREFIX)]
    np.testing.assert_allclose(merged[parts].sum(axis=1), merged["yhat"], rtol=1e-9)
    by_node = kept.pivot(index="segment", columns="ds", values="yhat")
    states = [f"state={s}|zone=<all>" for s in ("NSW", "SA", "VIC", "WA")]
    np.testing.assert_allclose(by_node.loc["state=<all>|zone=<all>"], by_node.loc[states].sum(), rtol=1e-6)  # reconciled, not the base
    bridges = pd.read_csv(client.download_artifacts(parent, "reconciliation/bridges.csv", str(tmp_path)))
    total = bridges[bridges["segment"] == "state=<all>|zone=<all>"]
    assert "reconciliation" in set(total["step"]) and total["value"].iloc[-1] == pytest.approx(
        total["value"].iloc[0] + total[total["kind"] == "change"]["value"].sum(), rel=1e-9)


def test_the_run_page_has_the_waterfalls_of_the_worst_nodes_and_the_total(trained):
    from forecasting.ops.charts import alt_text
    from forecasting.ops.summary import plain

    artifacts, report = run_artifacts(trained["state"]), trained["state"].result()
    cards = {key: a for key, a in artifacts.items() if key.startswith("bridge-")}
    assert len(cards) == 5 + 1  # the worst 5 of 20 (the forecast charts' choice) and the total
    total = cards["bridge-total"]
    assert total.description.startswith(f"**{plain('total (state=<all>|zone=<all>)')}** · the hierarchy's total node, reconciled · last year ")
    assert f"![{alt_text('total (state=<all>|zone=<all>)', 'bridge')}](data:image/png;base64," in total.description
    assert "| reconciliation |" in total.data  # the reconciliation is a step of the total's bridge
    index = artifacts["bridges"].data
    assert all(f"| {plain(key.replace('|', chr(92) + '|'))} |" in index for key in (r["segment"] for r in report["segments"]))
    summary = artifacts["training-summary"].data
    assert "## What changed since the last forecast" in summary and "**First forecast**" in summary
    assert len(report["changes"]["first"]) == 20 and report["changes"]["segments"] == []


def test_the_router_serves_reconciled_numbers_that_add_up(trained):
    """A region and its zones asked together, the total and the states in separate requests: the served
    numbers add up, whichever nodes a request asks for."""
    from forecasting.serving.local import LocalTarget

    report = trained["state"].result()
    dates = ["2017-01-01", "2017-04-01", "2017-07-01", "2017-10-01"]
    target = LocalTarget()
    nsw = target.predict(pd.DataFrame({"state": ["NSW"] * 16, "zone": sum([[z] * 4 for z in ("<all>", "Coast", "Inner", "Metro")], []), "ds": dates * 4}))
    table = nsw.pivot(index="zone", columns="ds", values="yhat")
    np.testing.assert_allclose(table.loc["<all>"], table.loc[["Coast", "Inner", "Metro"]].sum(), rtol=1e-6)
    assert set(nsw["reconciliation"]) == {report["reconciliation"]["method"]}
    total = target.predict(pd.DataFrame({"state": ["<all>"] * 4, "zone": ["<all>"] * 4, "ds": dates}))
    states = target.predict(pd.DataFrame({"state": sum([[s] * 4 for s in ("NSW", "SA", "VIC", "WA")], []), "zone": ["<all>"] * 16, "ds": dates * 4}))
    np.testing.assert_allclose(total["yhat"].to_numpy(), states.pivot(index="state", columns="ds", values="yhat").sum().to_numpy(), rtol=1e-6)


def test_old_routers_still_load_and_serve_without_a_reconciliation(tmp_path):
    """A router logged without a reconciliation (every router before hierarchies) answers as before."""
    from forecasting.mlops.router import RouterModel

    root = tmp_path / "segments"
    root.mkdir()
    (root / "routes.json").write_text('{"segment_cols": ["region"], "routes": {}}')
    router = RouterModel()
    router.load_context(type("Ctx", (), {"artifacts": {"segments": str(root)}})())
    assert router.reconciliation is None


def test_a_hierarchy_that_cannot_be_built_registers_nothing(prefect_harness, tmp_path):
    from flows.training import forecast_training

    with local_mlflow(tmp_path) as (config, client):
        state = forecast_training(params(hierarchy={"reconcile": "auto", "levels": "country"}), return_state=True)
        assert state.is_failed()
        assert "country" in str(state.message)
        assert client.search_registered_models() == []
