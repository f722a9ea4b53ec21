"""Models registered before the layout change (commit a619f48) still load and predict: their pickles name
`forecasting.mlflow_model.ForecastModel`, `forecasting.router.RouterModel` and `forecasting.models.*`.

The fixture (`tests/fixtures/legacy_a619f48/`) holds two segment models (ETS, Prophet) and a router over
both, as that commit logged them (MLflow's `code/` copy of the package left out: in a process that has
already imported `forecasting`, as every flow has, MLflow's copy is shadowed and the pickles resolve
against the installed package, which is what this checks), and each segment's forecast at the time."""

from __future__ import annotations

import json
import shutil

import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from mlflow_helpers import local_mlflow

import forecasting

FIXTURE = ROOT / "tests" / "fixtures" / "legacy_a619f48"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
DATES = {"region=EU": EXPECTED["region=EU"]["ds"], "region=US": EXPECTED["region=US"]["ds"]}


@pytest.mark.parametrize("family,segment", [("ets", "region=EU"), ("prophet", "region=US")])
def test_a_segment_model_logged_before_the_move_predicts_what_it_did(family, segment):
    model = mlflow.pyfunc.load_model(str(FIXTURE / f"segment-{family}"))
    python_model = model.unwrap_python_model()
    assert type(python_model).__module__ == "forecasting.mlops.pyfunc"  # the old path resolved to the new code
    assert str(ROOT) in forecasting.__file__
    answer = model.predict(pd.DataFrame({"ds": DATES[segment]}))
    np.testing.assert_allclose(answer["yhat"], EXPECTED[segment]["yhat"], rtol=1e-9)
    np.testing.assert_allclose(answer["yhat_upper"], EXPECTED[segment]["yhat_upper"], rtol=1e-9)


def test_a_router_logged_before_the_move_routes_both_segments():
    router = mlflow.pyfunc.load_model(str(FIXTURE / "router"))
    assert type(router.unwrap_python_model()).__module__ == "forecasting.mlops.router"
    request = pd.DataFrame({"region": ["EU", "US"], "ds": [DATES["region=EU"][0], DATES["region=US"][0]]})
    answer = router.predict(request)
    np.testing.assert_allclose(answer["yhat"], [EXPECTED["region=EU"]["yhat"][0], EXPECTED["region=US"]["yhat"][0]], rtol=1e-9)
    assert list(answer["model"]) == ["ets", "prophet"]


def test_a_new_router_serves_a_champion_registered_before_the_move(tmp_path):
    """The production path: a segment keeps an old champion, and today's router snapshots it."""
    from forecasting.mlops.router import Route, log_router, smoke_test_router
    from forecasting.mlops.tracking import start_training_run

    with local_mlflow(tmp_path / "state") as (config, client):
        source = tmp_path / "segment-ets"
        shutil.copytree(FIXTURE / "segment-ets", source)
        client.create_registered_model("legacy_ets")
        version = client.create_model_version("legacy_ets", str(source), run_id=None)
        run_id = start_training_run(config, {"test": "legacy"})
        with mlflow.start_run(run_id=run_id):
            info, _ = log_router([Route("region=EU", {"region": "EU"}, "legacy_ets", str(version.version))], ["region"])
        report = smoke_test_router(info.model_uri)
        assert report.passed, report.failures
        answer = mlflow.pyfunc.load_model(info.model_uri).predict(pd.DataFrame({"region": ["EU"], "ds": [DATES["region=EU"][0]]}))
        np.testing.assert_allclose(answer["yhat"], [EXPECTED["region=EU"]["yhat"][0]], rtol=1e-9)
