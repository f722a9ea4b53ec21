"""Throughput of a whole retraining on the paths users run: `make bench` or
`python -m benchmarks.throughput [--sizes 100] [--long] [--runs ...] [--databases sqlite,postgresql]`.

For each size N: synthetic daily finance segments (2 years; trend, weekly and yearly seasonality, US
holidays, noise; `forecasting.synthetic`), the default model set, horizon 30, run side by side:

- `sequential`: a plain Python loop over the segments (no Prefect, no MLflow);
- `threadpool`: `ThreadPoolExecutor(2)` over the segments, like the original app's batch endpoint;
- `deployment/<database>`: the `forecast-training` flow (validate -> train -> select -> register, no
  deploy) run the way schedules run it: a deployment on a process work pool, its run picked up by
  `prefect worker`, with the default task runner (processes on every usable core);
- `cli/<database>`: `forecast-flows train --task-runner processes` against the same server;
- `dask/<database>`: `forecast-flows train --task-runner dask` (a local Dask cluster, one worker process
  per core) against the same server;
- `forecast`: `forecast-flows forecast --workers N` (no Prefect, no MLflow; N = the usable cores).

`<database>` is where the Prefect server and MLflow keep their state: `sqlite` (the local defaults) or
`postgresql` (a cluster this benchmark starts with `initdb`/`pg_ctl`; the Prefect server on it, one
MLflow database per run). A fresh MLflow per run; segments per task run as the run policy sets them by
default (about 8 task runs per worker) unless ``--chunk`` says otherwise.

Reported per run: wall seconds; model CPU seconds (backtest + selection + refit, measured inside the
tasks, `forecasting.system.runtime.work_seconds`; for `forecast`, the CPU of its whole process tree);
efficiency = (model CPU / cores) / wall; tracking share (MLflow logging and publishing in the tasks /
cores + the publish stage, over wall); orchestration share (the rest: wall - model/cores - tracking);
peak RSS of the run's process tree (the worker or command and its workers; not the Prefect server or
PostgreSQL); speed-ups against both loops; and the lines "database is locked" and Prefect's
thread-timeout advice in the run's logs and the server's log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks import overhead
from benchmarks.machine import environment
from forecasting.models import DEFAULT_MODELS
from forecasting.system.runtime import pin_native_threads, usable_cores, work_seconds

CORES = usable_cores()
ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
RUNS = ("sequential", "threadpool", "deployment", "cli", "dask", "forecast")
POOL = "bench-pool"
LOG_PROBLEMS = {"db_locked": "database is locked", "timeout_warnings": "running in a worker thread"}


class TreeMonitor:
    """Samples the RSS and CPU of a process and all its descendants every second (more often cost the
    main process measurable CPU); keeps the peak RSS and each process's last CPU reading."""

    def __init__(self, pid: int | None = None):
        import psutil

        self.root, self.peak, self.cpu = psutil.Process(pid), 0, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        total = 0
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except Exception:  # the root just exited
            return
        for proc in procs:
            try:
                total += proc.memory_info().rss
                times = proc.cpu_times()
                self.cpu[proc.pid] = times.user + times.system
            except Exception:  # a child that just exited
                continue
        self.peak = max(self.peak, total)

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(1.0)

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu.values())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def job(models: list[str], horizon: int):
    from forecasting.backtest import BacktestSpec
    from forecasting.contract import DataSpec
    from forecasting.models import ModelSpec
    from forecasting.pipeline import ForecastJob

    return ForecastJob(data=DataSpec(segment_cols=["region", "product"]), models=ModelSpec(models=models), backtest=BacktestSpec(horizon=horizon))


def loop(frame, forecast_job, workers: int) -> dict:
    """The segments trained without Prefect or MLflow: one by one, or in a thread pool."""
    from forecasting.pipeline import prepare, train_segment

    started = time.perf_counter()
    report, prepared = prepare(frame, forecast_job)

    def one(segment):
        before = work_seconds()
        outcome = train_segment(segment, report.segments[segment.key], forecast_job)
        return outcome.status, work_seconds() - before

    with TreeMonitor() as monitor:
        if workers == 1:
            outcomes = [one(s) for s in prepared.values()]
        else:
            with ThreadPoolExecutor(workers) as pool:
                outcomes = list(pool.map(one, prepared.values()))
    wall = time.perf_counter() - started
    return {"wall": wall, "model_cpu": sum(c for _, c in outcomes), "trained": sum(s == "trained" for s, _ in outcomes),
            "peak_rss_mb": monitor.peak / 1e6, "tracking": 0.0}


class Backend:
    """A Prefect server and MLflow on one kind of database, for the flow runs of one size."""

    def __init__(self, database: str, root: Path):
        self.database, self.root = database, root / f"prefect-{database}"
        self.postgres = None
        self.api = ""
        self.runs = 0

    def __enter__(self) -> "Backend":
        from flows.runners import ensure_local_server

        url = None
        if self.database == "postgresql":
            from benchmarks.postgres import LocalPostgres

            self.postgres = LocalPostgres(["prefect"]).__enter__()
            url = self.postgres.url("prefect")
        from prefect.settings import PREFECT_API_URL, temporary_settings

        os.environ.pop("PREFECT_API_URL", None)
        os.environ["FORECAST_FLOWS_HOME"] = str(self.root)
        with temporary_settings(restore_defaults={PREFECT_API_URL}):  # a server of our own, whatever the profile says
            self.api = ensure_local_server(database=url)
        subprocess.run([sys.executable, "-m", "prefect", "work-pool", "create", POOL, "--type", "process", "--overwrite"],
                       env=self.env(), check=True, capture_output=True, timeout=120)
        return self

    def __exit__(self, *exc) -> None:
        from flows.runners import stop_local_server

        os.environ["FORECAST_FLOWS_HOME"] = str(self.root)
        stop_local_server()
        os.environ.pop("PREFECT_API_URL", None)
        if self.postgres is not None:
            self.postgres.__exit__()

    def env(self, **extra: str) -> dict:
        return {**os.environ, "PREFECT_API_URL": self.api, "PYTHONPATH": str(ROOT), **extra}

    def tracking_uri(self, name: str) -> str | None:
        """A fresh MLflow store for one run: SQLite in the run's state directory, or a new database."""
        if self.postgres is None:
            return None
        return self.postgres.create_database(f"mlflow_{name.replace('-', '_')}")

    @contextlib.contextmanager
    def server_log(self, into: dict):
        """Counts the problem lines the server logged while the block ran. A missing log is an error,
        not zero problems."""
        log = self.root / "prefect" / "server.log"
        if not log.exists():
            raise RuntimeError(f"the Prefect server's log {log} does not exist: its problem lines cannot be counted")
        offset = log.stat().st_size
        yield
        count_problems(into, log.read_bytes()[offset:].decode(errors="replace"))


def training_parameters(data: Path, forecast_job, chunk: int, tracking_uri: str | None) -> dict:
    return {"data_path": str(data), **forecast_job.model_dump(mode="json"), "skip_deploy": True,
            "tracking": {"experiment": "bench", "tracking_uri": tracking_uri},
            "policy": {"segments_per_task": chunk or None, "max_failed_fraction": 0.0}}


def deployment_run(backend: Backend, data: Path, forecast_job, chunk: int, home: Path) -> dict:
    """A run of a work-pool deployment with the default task runner, picked up by `prefect worker`."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_LOCAL_STORAGE_PATH,
        temporary_settings,
    )

    home.mkdir(parents=True)
    results = home / "flow-results"
    # this process talks to this backend's server (Prefect read its settings when first imported)
    with temporary_settings({PREFECT_API_URL: backend.api, PREFECT_LOCAL_STORAGE_PATH: results}):
        flow_run_id = _start_deployment_run(training_parameters(data, forecast_job, chunk, backend.tracking_uri(home.name)))
        # the flow's result (the run report) persisted where this process reads it back
        env = backend.env(FORECAST_FLOWS_HOME=str(home), PREFECT_RESULTS_PERSIST_BY_DEFAULT="true", PREFECT_LOCAL_STORAGE_PATH=str(results))
        problems: dict = {}
        with backend.server_log(problems), open(home / "worker.log", "wb") as log:
            worker = subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--run-once"],
                                      cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            with TreeMonitor(worker.pid) as monitor:
                worker.wait(timeout=6 * 3600)
        count_problems(problems, (home / "worker.log").read_text(errors="replace"))
        wall, report = _finished_run(flow_run_id, home)
        parts = {**overhead.split(flow_run_id, report, wall, CORES), **overhead.result_persistence(home / "prefect-results")}
    return {**from_report(report, wall), "peak_rss_mb": monitor.peak / 1e6, **problems, "overhead": parts}


def _start_deployment_run(params: dict):
    from prefect.deployments import run_deployment

    from flows.training import forecast_training

    with contextlib.chdir(ROOT):  # the entrypoint is relative to the project, where the worker runs the flow
        deployment_id = forecast_training.to_deployment(name="bench", work_pool_name=POOL, job_variables={"working_dir": str(ROOT)}).apply()
    return run_deployment(deployment_id, parameters={"params": params}, timeout=0).id


def _finished_run(flow_run_id, home: Path) -> tuple[float, dict]:
    """Wall seconds from the worker picking the run up to its end (process start included, polling
    not), and the run report."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
        states = client.read_flow_run_states(flow_run_id)
    if not run.state.is_completed():
        raise RuntimeError(f"the deployment run ended {run.state.type.value}: {run.state.message}; see {home / 'worker.log'}")
    picked_up = min(s.timestamp for s in states if s.type.value == "PENDING")
    return (run.state.timestamp - picked_up).total_seconds(), run.state.result()


def cli_run(backend: Backend, data: Path, forecast_job, chunk: int, home: Path, runner: str = "processes") -> dict:
    """`forecast-flows train --task-runner processes` (or ``dask``: a local Dask cluster of worker
    processes) against the backend's server."""
    home.mkdir(parents=True)
    uri = backend.tracking_uri(home.name)
    env = backend.env(FORECAST_FLOWS_HOME=str(home), **({"MLFLOW_TRACKING_URI": uri} if uri else {}))
    command = [sys.executable, "-m", "flows.cli", "train", "--data", str(data), "--segment-cols", "region,product",
               "--models", ",".join(forecast_job.models.models), "--horizon", str(forecast_job.backtest.horizon), "--skip-deploy",
               "--task-runner", runner, *(["--segments-per-task", str(chunk)] if chunk else []), "--max-failed-fraction", "0",
               "--experiment", "bench", "--report", str(home / "report.json")]
    problems: dict = {}
    started = time.perf_counter()
    with backend.server_log(problems), open(home / "cli.log", "wb") as log:
        process = subprocess.Popen(command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
        with TreeMonitor(process.pid) as monitor:
            code = process.wait(timeout=6 * 3600)
    wall = time.perf_counter() - started
    count_problems(problems, (home / "cli.log").read_text(errors="replace"))
    if code != 0:
        raise RuntimeError(f"forecast-flows train exited {code}; see {home / 'cli.log'}")
    return {**from_report(json.loads((home / "report.json").read_text()), wall), "peak_rss_mb": monitor.peak / 1e6, **problems}


def forecast_run(data: Path, forecast_job, workers: int, home: Path) -> dict:
    """`forecast-flows forecast --workers N`: CPU is its whole process tree's (imports and validation too)."""
    home.mkdir(parents=True)
    command = [sys.executable, "-m", "flows.cli", "forecast", "--data", str(data), "--segment-cols", "region,product",
               "--models", ",".join(forecast_job.models.models), "--horizon", str(forecast_job.backtest.horizon),
               "--workers", str(workers), "--output", str(home / "forecast.csv")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(home / "forecast.log", "wb") as log:
        process = subprocess.Popen(command, cwd=home, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT)
        with TreeMonitor(process.pid) as monitor:
            code = process.wait(timeout=6 * 3600)
    wall = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"forecast-flows forecast exited {code}; see {home / 'forecast.log'}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)  # the command itself, reaped
    trained = _trained((home / "forecast.log").read_text(errors="replace"))
    return {"wall": wall, "model_cpu": max(monitor.cpu_seconds, own), "tracking": 0.0, "trained": trained, "peak_rss_mb": monitor.peak / 1e6,
            "workers": workers}


def _trained(output: str) -> int:
    """Segments written, from the command's last line: "wrote R rows for S segment(s) ..."."""
    for line in reversed(output.splitlines()):
        if line.startswith("wrote "):
            return int(line.split(" for ")[1].split()[0])
    return 0


def from_report(report: dict, wall: float) -> dict:
    rows, stages = report["segments"], report["stage_seconds"]
    return {"wall": wall, "model_cpu": sum(r.get("fit_cpu_seconds", 0.0) for r in rows),
            "tracking": sum(r.get("tracking_seconds", 0.0) + r.get("publish_seconds", 0.0) for r in rows) / CORES + stages.get("publish", 0.0),
            "trained": sum(r["status"] == "trained" for r in rows), "stages": stages}


def count_problems(into: dict, text: str) -> None:
    """Adds the lines of ``text`` holding each problem (LOG_PROBLEMS) to ``into``, and the lines read to
    ``log_lines``, so a report of zero problems shows how much log it rests on."""
    lines = text.splitlines()
    into["log_lines"] = into.get("log_lines", 0) + len(lines)
    for key, needle in LOG_PROBLEMS.items():
        into[key] = into.get(key, 0) + sum(needle in line for line in lines)


def describe(run: dict) -> dict:
    wall = run["wall"]
    model = run["model_cpu"] / CORES
    run["efficiency"] = model / wall
    run["tracking_share"] = run["tracking"] / wall
    run["orchestration_share"] = max(wall - model - run["tracking"], 0.0) / wall
    return run


def machine() -> dict:
    import psutil

    env = environment(("prefect", "mlflow", "statsforecast", "statsmodels", "prophet", "xgboost-cpu", "pandas", "sqlalchemy"))
    return {"cores": CORES, "memory_gb": round(psutil.virtual_memory().total / 1e9, 1), **env}


def table(results: list[dict]) -> str:
    head = ("| N | run | chunk | wall s | model CPU s | efficiency | × sequential | × threadpool | tracking | orchestration | peak RSS MB |"
            " db locked | timeout warnings |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in results:
        problems = [str(r[key]) if key in r else "–" for key in LOG_PROBLEMS]
        lines.append(f"| {r['n']} | {r['run']} | {r.get('chunk', '-')} | {r['wall']:.1f} | {r['model_cpu']:.1f} | {r['efficiency']:.2f} | "
                     f"{r.get('vs_sequential', float('nan')):.2f} | {r.get('vs_threadpool', float('nan')):.2f} | "
                     f"{r['tracking_share']:.1%} | {r['orchestration_share']:.1%} | {r['peak_rss_mb']:.0f} | {' | '.join(problems)} |")
    return "\n".join(lines)


def save(args, argv, results: list[dict], started: float) -> dict:
    payload = {"command": "python -m benchmarks.throughput " + " ".join(argv if argv is not None else sys.argv[1:]),
               "machine": machine(), "models": args.models, "horizon": args.horizon, "total_seconds": time.perf_counter() - started,
               "results": results}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(payload, indent=1))
    return payload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100", help="comma-separated segment counts")
    parser.add_argument("--long", action="store_true", help="also 1,000 segments (the --long-runs, chunked task runs)")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, of {', '.join(RUNS)}")
    parser.add_argument("--long-runs", default="deployment", help="runs at 1,000 segments (the loops would take hours)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="where the Prefect server and MLflow keep their state, for the flow runs")
    parser.add_argument("--workers", default=str(CORES), help="forecast --workers, comma-separated for one forecast run each (default: the usable cores)")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--horizon", type=int, default=30)
    parser.add_argument("--chunk", type=int, default=0, help="segments per task run (0: the run policy's default, about 8 task runs per worker)")
    parser.add_argument("--output", default=str(RESULTS / "throughput.json"))
    args = parser.parse_args(argv)

    runs = [r for r in args.runs.split(",") if r]
    unknown = sorted(set(runs) - set(RUNS))
    if unknown:
        parser.error(f"unknown run {unknown[0]!r}; use {', '.join(RUNS)}")
    databases = [d for d in args.databases.split(",") if d]
    if "postgresql" in databases:
        from benchmarks.postgres import unavailable

        if unavailable():
            print(f"skipping PostgreSQL: {unavailable()}", flush=True)
            databases.remove("postgresql")
    pin_native_threads()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    import pandas as pd

    from forecasting.synthetic import finance_segments

    forecast_job = job(args.models.split(","), args.horizon)
    root = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    print(f"work in {root}; {CORES} usable cores", flush=True)
    results, started = [], time.perf_counter()
    plan = [(int(n), runs) for n in args.sizes.split(",") if n] + ([(1000, args.long_runs.split(","))] if args.long else [])
    for n, wanted in plan:
        frame = finance_segments(n, days=730)
        frame["ds"] = frame["ds"].dt.strftime("%Y-%m-%d")
        data = root / f"segments-{n}.csv"
        frame.to_csv(data, index=False)
        chunk = args.chunk
        measured: dict[str, dict] = {}
        for name in ("sequential", "threadpool"):
            if name in wanted:
                measured[name] = describe(loop(pd.read_csv(data, dtype=str), forecast_job, 1 if name == "sequential" else 2))
                print(f"N={n} {name}: {measured[name]['wall']:.1f} s", flush=True)
        for workers in [int(w) for w in args.workers.split(",") if w] if "forecast" in wanted else []:
            key = f"forecast --workers {workers}"
            measured[key] = describe(forecast_run(data, forecast_job, workers, root / f"{n}-forecast-{workers}"))
            print(f"N={n} {key}: {measured[key]['wall']:.1f} s", flush=True)
        flows = [name for name in ("deployment", "cli", "dask") if name in wanted]
        for database in databases if flows else []:
            with Backend(database, root / str(n)) as backend:
                for name in flows:
                    key = f"{name}/{database}"
                    home = root / f"{n}-{name}-{database}"
                    run = (deployment_run(backend, data, forecast_job, chunk, home) if name == "deployment"
                           else cli_run(backend, data, forecast_job, chunk, home, "dask" if name == "dask" else "processes"))
                    measured[key] = {**describe(run), "chunk": chunk or "auto"}
                    print(f"N={n} {key}: {run['wall']:.1f} s (efficiency {run['efficiency']:.2f})", flush=True)
        for key, run in measured.items():
            for base in ("sequential", "threadpool"):
                if base in measured:
                    run[f"vs_{base}"] = measured[base]["wall"] / run["wall"]
            results.append({"n": n, "run": key, **run})
        save(args, argv, results, started)  # after every size: an interrupted run keeps what it measured
    payload = save(args, argv, results, started)
    print(table(results))
    for r in results:
        if r.get("overhead"):
            parts = r["overhead"]
            print(f"\nN={r['n']} {r['run']}: where the {r['wall']:.1f} s went (seconds of wall; slot parts / {CORES} cores)")
            for name, value in parts.items():
                share = f"  ({value / r['wall']:.1%})" if name not in ("task_runs", "result_files", "result_mb") else ""
                print(f"  {name:<26} {value:8.1f}{share}")
    print(f"\n{len(results)} runs in {payload['total_seconds']:.0f} s; JSON: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
