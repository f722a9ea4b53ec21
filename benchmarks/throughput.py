"""Throughput and scaling of a whole retraining on this machine: `make bench` or
`python -m benchmarks.throughput [--sizes 20,100] [--long] [--runners threads,processes,dask]`.

For each size N: synthetic daily finance segments (2 years; trend, weekly and yearly seasonality, US
holidays, noise; `forecasting.synthetic`), the default model set, horizon 30, run side by side:

- `sequential`: a plain Python loop over the segments (no Prefect, no MLflow);
- `threadpool`: `ThreadPoolExecutor(2)` over the segments, like the original app's batch endpoint;
- the `forecast-training` flow (validate -> train -> select -> register, no deploy) with each task
  runner, against one local `prefect server` and a fresh MLflow (SQLite) per run.

Reported per run: wall seconds; model CPU seconds measured inside the tasks (backtest + selection +
refit, `forecasting.runtime.work_seconds`); efficiency = (model CPU / cores) / wall; tracking share
(MLflow logging and publishing in the tasks / cores + the publish stage, over wall); orchestration share (the rest:
wall − model/cores − tracking); peak RSS of the process tree; speed-ups against both loops.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from forecasting.models import DEFAULT_MODELS
from forecasting.system.runtime import pin_native_threads, work_seconds

CORES = os.cpu_count() or 1
RESULTS = Path(__file__).resolve().parent / "results"


class PeakRSS:
    """Samples the RSS of this process and all its descendants every second (more often cost the main
    process measurable CPU); keeps the maximum."""

    def __init__(self):
        import psutil

        self.root, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = 0
        for proc in [self.root, *self.root.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except Exception:  # a child that just exited
                continue
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(1.0)

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

    with PeakRSS() as rss:
        if workers == 1:
            outcomes = [one(s) for s in prepared.values()]
        else:
            with ThreadPoolExecutor(workers) as pool:
                outcomes = list(pool.map(one, prepared.values()))
    wall = time.perf_counter() - started
    cpu = sum(c for _, c in outcomes)
    return {"wall": wall, "model_cpu": cpu, "trained": sum(s == "trained" for s, _ in outcomes), "peak_rss_mb": rss.peak / 1e6,
            "tracking": 0.0}


def flow_run(data: Path, forecast_job, runner: str, chunk: int, home: Path) -> dict:
    from flows.runners import make_task_runner
    from flows.training import TrainingParameters, forecast_training

    os.environ["FORECAST_FLOWS_HOME"] = str(home)
    params = TrainingParameters.model_validate({
        "data_path": str(data), **forecast_job.model_dump(), "tracking": {"experiment": "bench"}, "skip_deploy": True,
        "policy": {"segments_per_task": chunk, "max_failed_fraction": 0.0},
    })
    started = time.perf_counter()
    with PeakRSS() as rss:
        state = forecast_training.with_options(task_runner=make_task_runner(runner, 2))(params, return_state=True)
    wall = time.perf_counter() - started
    result = state.result()
    rows = result["segments"]
    stages = result["stage_seconds"]
    return {"wall": wall, "model_cpu": sum(r["fit_cpu_seconds"] for r in rows),
            "tracking": sum(r["tracking_seconds"] + r.get("publish_seconds", 0.0) for r in rows) / CORES + stages.get("publish", 0.0),
            "trained": sum(r["status"] == "trained" for r in rows), "peak_rss_mb": rss.peak / 1e6, "stages": stages}


def describe(run: dict) -> dict:
    wall = run["wall"]
    model = run["model_cpu"] / CORES
    run["efficiency"] = model / wall
    run["tracking_share"] = run["tracking"] / wall
    run["orchestration_share"] = max(wall - model - run["tracking"], 0.0) / wall
    return run


def machine() -> dict:
    import importlib.metadata as md

    import psutil

    versions = {p: md.version(p) for p in ("prefect", "mlflow", "statsmodels", "prophet", "xgboost-cpu", "pandas", "dask")
                if _installed(p)}
    return {"cores": CORES, "memory_gb": round(psutil.virtual_memory().total / 1e9, 1), "python": platform.python_version(),
            "platform": platform.platform(), "packages": versions}


def _installed(name: str) -> bool:
    import importlib.metadata as md

    try:
        md.version(name)
        return True
    except md.PackageNotFoundError:
        return False


def table(results: list[dict]) -> str:
    head = ("| N | run | chunk | wall s | model CPU s | efficiency | × sequential | × threadpool | tracking | orchestration | peak RSS MB |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in results:
        lines.append(f"| {r['n']} | {r['run']} | {r.get('chunk', '-')} | {r['wall']:.1f} | {r['model_cpu']:.1f} | {r['efficiency']:.2f} | "
                     f"{r.get('vs_sequential', float('nan')):.2f} | {r.get('vs_threadpool', float('nan')):.2f} | "
                     f"{r['tracking_share']:.1%} | {r['orchestration_share']:.1%} | {r['peak_rss_mb']:.0f} |")
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
    parser.add_argument("--sizes", default="20,100", help="comma-separated segment counts")
    parser.add_argument("--long", action="store_true", help="also 1,000 segments (flow only, chunked task runs)")
    parser.add_argument("--runners", default="threads,processes,dask")
    parser.add_argument("--loops", default="sequential,threadpool", help="plain loops to run beside the flow (empty: none)")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--horizon", type=int, default=30)
    parser.add_argument("--chunk", default="0", help="segments per task run, comma-separated for several flow runs "
                        "(0: 1 up to 100 segments, else N/40)")
    parser.add_argument("--output", default=str(RESULTS / "throughput.json"))
    args = parser.parse_args(argv)

    pin_native_threads()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    import pandas as pd

    from flows.runners import ensure_local_server, stop_local_server
    from forecasting.synthetic import finance_segments

    sizes = [int(n) for n in args.sizes.split(",") if n]
    forecast_job = job(args.models.split(","), args.horizon)
    root = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    os.environ["FORECAST_FLOWS_HOME"] = str(root / "prefect")
    api = ensure_local_server()
    print(f"Prefect API {api}; work in {root}", flush=True)
    results, started = [], time.perf_counter()
    plan = [(n, False) for n in sizes] + ([(1000, True)] if args.long else [])
    try:
        for n, long_mode in plan:
            frame = finance_segments(n, days=730)
            frame["ds"] = frame["ds"].dt.strftime("%Y-%m-%d")
            data = root / f"segments-{n}.csv"
            frame.to_csv(data, index=False)
            chunk_sizes = [int(c) or (1 if n <= 100 else max(n // 40, 1)) for c in args.chunk.split(",")]
            runs: dict[str, dict] = {}
            loops = [] if long_mode else [name for name in args.loops.split(",") if name]
            for name in loops:
                runs[name] = describe(loop(pd.read_csv(data, dtype=str), forecast_job, 1 if name == "sequential" else 2))
                print(f"N={n} {name}: {runs[name]['wall']:.1f} s", flush=True)
            runners = ["processes"] if long_mode else args.runners.split(",")
            for runner in runners:
                for chunk in chunk_sizes:
                    key = f"flow/{runner}" + (f"/chunk {chunk}" if len(chunk_sizes) > 1 else "")
                    runs[key] = describe(flow_run(data, forecast_job, runner, chunk, root / f"{n}-{runner}-{chunk}"))
                    runs[key]["chunk"] = chunk
                    print(f"N={n} {key}: {runs[key]['wall']:.1f} s (efficiency {runs[key]['efficiency']:.2f})", flush=True)
            for key, run in runs.items():
                for base in ("sequential", "threadpool"):
                    if base in runs:
                        run[f"vs_{base}"] = runs[base]["wall"] / run["wall"]
                results.append({"n": n, "run": key, **run})
            save(args, argv, results, started)  # after every size: an interrupted run keeps what it measured
    finally:
        os.environ["FORECAST_FLOWS_HOME"] = str(root / "prefect")
        stop_local_server()
    payload = save(args, argv, results, started)
    print(table(results))
    print(f"\n{len(results)} runs in {payload['total_seconds']:.0f} s; JSON: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
