"""The global model in the forecast-training flow, on a real Prefect test API, real MLflow (SQLite) and
real local serving: fitted once per fold position and once on all history (not once per segment),
registered once, and served through the router for any horizon by `mlflow models serve`."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest
from conftest import segments_csv
from mlflow_helpers import local_mlflow

pytestmark = pytest.mark.slow
MODELS = {"models": ["ets", "theta", "global", "ensemble"], "holidays_country": None}


@pytest.fixture(scope="module")
def trained(prefect_harness, tmp_path_factory):
    from flows.training import TrainingParameters, forecast_training
    from forecasting.serving.local import LocalTarget

    home = tmp_path_factory.mktemp("global-flow")
    with local_mlflow(home) as (config, client):
        data = segments_csv(home / "data.csv", regions=("EU", "US", "APAC"))
        params = TrainingParameters.model_validate({
            "data_path": str(data), "data": {"segment_cols": ["region"]}, "models": MODELS, "backtest": {"horizon": 14, "folds": 2},
            "tracking": {"experiment": "global-flow"}, "policy": {"retry_backoff_seconds": 0.1}})
        state = forecast_training(params, return_state=True)
        yield {"state": state, "client": client}
        LocalTarget().undeploy()


def task_runs(flow_run_id) -> list:
    """Every task run of the flow run and of its subflow runs."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId, TaskRunFilter, TaskRunFilterFlowRunId

    async def read():
        async with get_client() as api:
            children = await api.read_flow_runs(flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])))
            ids = [flow_run_id, *[c.id for c in children]]
            return await api.read_task_runs(task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=ids)))

    return asyncio.run(read())


def test_the_global_model_is_fitted_once_per_fold_and_once_on_all_history(trained):
    assert trained["state"].is_completed(), trained["state"].message
    names = [t.name.rsplit("-", 1)[0] for t in task_runs(trained["state"].state_details.flow_run_id)]
    assert names.count("fit-global") == 3  # 2 fold positions + the final fit, for 3 segments: not one per segment
    assert names.count("backtest-chunk") == 3 and names.count("train-chunk") == 3  # the two passes around the stages across segments
    report = trained["state"].result()
    for row in report["segments"]:
        board = trained["client"].get_run(row["mlflow_run_id"]).data.metrics
        assert "global.mase" in board  # a candidate like the others in every segment's leaderboard


def test_the_global_model_is_registered_once_and_the_router_serves_any_horizon_from_it(trained):
    import mlflow

    from forecasting.serving.local import LocalTarget

    client = trained["client"]
    versions = client.search_model_versions("name='forecast_global_d'")
    assert len(versions) == 1 and client.get_model_version_by_alias("forecast_global_d", "champion").version == versions[0].version
    report = trained["state"].result()
    router = mlflow.pyfunc.load_model(f"models:/{report['router']['name']}/{report['router']['version']}").unwrap_python_model()
    key = versions[0].tags["global_key"]
    assert list(router.manifest["global"]) == [key]
    uses = [k for k, route in router.routes.items() if key in (route["metadata"].get("global_keys") or [])]
    assert len(uses) == 3  # every champion refers to it (the ensemble's fixed member), frozen once in the router
    # two segments, 20 days ahead: past the 14 the run forecast, so only the attached global model can answer
    dates = pd.date_range("2024-07-19", periods=20).strftime("%Y-%m-%d").tolist()
    answer = LocalTarget().predict(pd.DataFrame({"region": ["EU"] * 20 + ["US"] * 20, "ds": dates * 2}))
    assert len(answer) == 40 and answer["yhat"].notna().all() and (answer["model"] == "ensemble").all()
