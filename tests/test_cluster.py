"""The run the docs promise for a cluster, shaped like one on this machine: the Prefect server and an
MLflow tracking server on PostgreSQL (artifacts only through the server's HTTP API), a `dask scheduler`
and `dask worker` processes that share nothing with the flow but the network (own working directory,
HOME and TMPDIR, none of the flow's MLflow, Prefect or state variables), and `forecast-flows train
--task-runner dask --dask-address tcp://…` with MLFLOW_TRACKING_URI=http://… for the CLI alone."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from cluster_processes import DaskCluster, bare_env
from conftest import segments_csv
from servers import BIN, launch_mlflow_server, start_prefect_server, stop, wait_http

REGIONS = ("EU", "US", "APAC", "LATAM")
SMALL = ["--models", "ets,theta", "--horizon", "7", "--folds", "1", "--holidays", "none"]
RESULTS_BLOCK = "cluster-results"


@pytest.fixture(scope="module")
def services(postgres, tmp_path_factory):
    """The Prefect server and the MLflow tracking server, each on its own PostgreSQL database; MLflow
    keeps the artifacts in a directory only it is told about, and serves them over HTTP."""
    root = tmp_path_factory.mktemp("services")
    (root / "prefect").mkdir()
    mlflow_process, mlflow_url = launch_mlflow_server(root / "mlflow", backend=postgres.create_database("cluster_mlflow"))
    prefect = None
    try:
        prefect, api, _ = start_prefect_server(root / "prefect", database=postgres.create_database("cluster_prefect"))
        wait_http(mlflow_url + "/health", 180, mlflow_process)
        yield SimpleNamespace(api=api, mlflow=mlflow_url, artifacts=root / "mlflow" / "artifacts", root=root)
    finally:
        for process in (prefect, mlflow_process):
            if process is not None:
                stop(process)


def flow_env(services, flow: Path) -> dict:
    """The CLI's environment: its own HOME and state directory, the Prefect API and the tracking server."""
    return bare_env(flow / "home", PREFECT_API_URL=services.api, MLFLOW_TRACKING_URI=services.mlflow,
                    FORECAST_FLOWS_HOME=str(flow / "state"), PREFECT_SERVER_ANALYTICS_ENABLED="false")


def cli(env, cwd, *args, timeout=600):
    return subprocess.run([str(BIN / "forecast-flows"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_workers_that_do_not_see_the_flows_files_are_told_to_configure_result_storage(services, tmp_path):
    """A worker in a mount namespace where the flow's directory is an empty tmpfs stands for a worker on
    another machine (the one beside it shares the flow's disk): with no result storage configured, the
    run stops before training, in one line naming that worker."""
    flow = tmp_path / "flow"
    data = segments_csv(tmp_path / "data.csv", regions=REGIONS[:2])
    env = flow_env(services, flow)
    user_namespace = () if os.geteuid() == 0 else ("--user", "--map-root-user")
    hide = ["unshare", *user_namespace, "--mount", "--propagation", "private", "sh", "-c", f'mount -t tmpfs tmpfs {flow} && exec "$0" "$@"']
    with DaskCluster(tmp_path / "cluster") as cluster:
        cluster.add_worker("here")
        cluster.add_worker("elsewhere", wrap=tuple(hide))
        cluster.wait_for_workers(2)
        run = cli(env, flow, "train", "--data", str(data), "--segment-cols", "region", *SMALL, "--skip-deploy",
                  "--task-runner", "dask", "--dask-address", cluster.address)
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-3000:]
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    assert f"1 Dask worker(s) at {cluster.address} (e.g. {cluster.addresses['elsewhere']}) do not see this machine's files" in run.stderr
    assert "set policy.result_storage (--result-storage" in run.stderr, run.stderr
    assert not list((flow / "state").glob("prefect-results/*"))  # nothing trained, nothing persisted


def files_under(*roots: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime for root in roots if root.exists() for p in root.rglob("*") if p.is_file()}


class KillOnFirstTask(threading.Thread):
    """Watches a worker's log; as soon as a training task starts there, SIGKILLs the worker and starts a
    replacement. Records the segments that task was training."""

    def __init__(self, cluster: DaskCluster, name: str, replacement: str):
        super().__init__(daemon=True)
        self.cluster, self.name, self.replacement = cluster, name, replacement
        self.segments: list[str] = []
        self.done = threading.Event()

    def run(self):
        log = self.cluster.root / self.name / "process.log"
        while not self.done.is_set():
            started = [line for line in log.read_text(errors="replace").splitlines() if " - training " in line]
            if started:
                self.segments = started[0].split(" - training ", 1)[1].split(" in process ")[0].split(", ")
                self.cluster.kill(self.name)
                self.cluster.add_worker(self.replacement)
                return
            time.sleep(0.1)


def registered_versions(mlflow_url: str, name: str) -> list[str]:
    from mlflow.tracking import MlflowClient

    return sorted(v.version for v in MlflowClient(mlflow_url, registry_uri=mlflow_url).search_model_versions(f"name='{name}'"))


@pytest.mark.slow
def test_a_dask_cluster_trains_every_segment_in_its_workers_through_the_tracking_server(services, tmp_path, monkeypatch):
    from prefect.filesystems import LocalFileSystem
    from prefect.settings import PREFECT_API_URL, temporary_settings

    flow, shared = tmp_path / "flow", tmp_path / "result-storage"
    data = segments_csv(tmp_path / "data.csv", regions=REGIONS)
    env = flow_env(services, flow)
    # result storage every worker can write (a bucket on a real cluster): a Prefect storage block the run is given
    with temporary_settings({PREFECT_API_URL: services.api}):
        LocalFileSystem(basepath=str(shared)).save(RESULTS_BLOCK, overwrite=True)
    try:
        with DaskCluster(tmp_path / "cluster") as cluster:
            cluster.add_worker("a")
            cluster.add_worker("b")
            pids = cluster.wait_for_workers(2)
            before = files_under(tmp_path)
            killer = KillOnFirstTask(cluster, "a", replacement="c")
            killer.start()
            started = time.monotonic()
            train = cli(env, flow, "train", "--data", str(data), "--segment-cols", "region", *SMALL, "--task-runner", "dask",
                        "--dask-address", cluster.address, "--result-storage", f"local-file-system/{RESULTS_BLOCK}", "--experiment", "cluster",
                        "--report", str(flow / "report.json"))
            seconds = time.monotonic() - started
            killer.done.set()
            pids.update(cluster.wait_for_workers(2))  # the replacement's pid too
            after = files_under(tmp_path)
        assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-5000:]
        # task runs sized for the cluster's worker threads, not for the cores of the machine the flow runs on
        assert f"Dask scheduler {cluster.address}: 2 worker thread(s); task runs sized for them" in train.stdout + train.stderr
        report = json.loads((flow / "report.json").read_text())
        rows = {row["segment"]: row for row in report["segments"]}
        assert len(report["segments"]) == len(REGIONS) and set(rows) == {f"region={r}" for r in REGIONS}  # one row per segment
        assert {row["status"] for row in rows.values()} == {"trained"}, rows

        # every segment trained in a Dask worker process; the killed worker's task ran again on another
        assert killer.segments, "worker a never started a training task"
        assert {row["process_id"] for row in rows.values()} <= set(pids.values()), (rows, pids)
        for segment in killer.segments:
            assert rows[segment]["process_id"] != pids["a"], f"{segment} was not retrained after its worker died"
        assert train.stdout.count("by process") + train.stderr.count("by process") >= len(REGIONS)

        # exactly one version per segment, the champion, loadable through the tracking server
        import mlflow

        mlflow.set_tracking_uri(services.mlflow)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", services.mlflow)
        monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        for segment, row in rows.items():
            assert registered_versions(services.mlflow, row["registered_model"]) == [row["version"]], segment
            model = mlflow.pyfunc.load_model(f"models:/{row['registered_model']}/{row['version']}")
            answer = pd.DataFrame(model.predict(pd.DataFrame(model.input_example)))
            assert len(answer) and answer["yhat"].notna().all(), segment
        experiment = mlflow.MlflowClient(services.mlflow).get_experiment_by_name("cluster")
        assert experiment.artifact_location.startswith("mlflow-artifacts:"), experiment.artifact_location
        assert any(services.artifacts.rglob("MLmodel")), "the models were not stored through the tracking server"

        # the router, deployed locally beside the flow, answers
        assert report["endpoint"]["url"].startswith("http://127.0.0.1:")
        predicted = cli(env, flow, "predict", "--segment", "region=EU", "--periods", "7", "--json")
        assert predicted.returncode == 0, predicted.stderr
        assert len(json.loads(predicted.stdout)) == 7

        # nothing written by a worker outside its own directory: the flow's directories hold only what the flow writes
        written = sorted(p.relative_to(tmp_path) for p, mtime in after.items() if before.get(p) != mtime)
        cluster_processes = {Path("cluster") / name for name in ("scheduler", "a", "b", "c")}
        unexpected = [p for p in written if not (set(p.parents) & cluster_processes) and Path("result-storage") not in p.parents
                      and not _written_by_the_flow(p)]
        assert not unexpected, unexpected
        assert len(list(shared.glob("*"))) >= len(REGIONS)  # the training tasks' results, in the configured storage
        local_defaults = [p for p in (tmp_path / "cluster").rglob("*") if p.name in ("mlflow.db", "mlruns", "mlartifacts", ".forecast-flows")]
        assert not local_defaults, local_defaults  # no SQLite or file-store default taken from a worker's own surroundings
        print(f"cluster run: {seconds:.1f} s; worker a killed while training {killer.segments}; pids {pids}; "
              f"trained by {sorted((r['segment'], r['process_id']) for r in rows.values())}; stages {report['stage_seconds']}")
    finally:
        cli(env, flow, "serve", "stop")


def _written_by_the_flow(path: Path) -> bool:
    """What `forecast-flows train` itself writes: its report, its Prefect profile, the serving state."""
    parts = path.parts
    return parts[0] == "flow" and (path == Path("flow/report.json") or parts[1] == "home" or parts[1:3] == ("state", "serving"))
