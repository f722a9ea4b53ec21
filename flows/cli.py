"""The ``forecast-flows`` command line.

Errors a user can cause print one line and exit non-zero (2: nothing could run; 1: some segments
failed, the rest were written). ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from forecasting.runtime import pin_native_threads

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA = PACKAGE_ROOT / "examples" / "data" / "finance_segments.csv"

EXIT_OK, EXIT_SEGMENTS_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="CSV or Parquet long table")
    parser.add_argument("--time-col", default="ds")
    parser.add_argument("--target-col", default="y")
    parser.add_argument("--segment-cols", default="", help="comma-separated segment columns")
    parser.add_argument("--covariates", default="", help="comma-separated covariate columns")
    parser.add_argument("--frequency", default="auto", help="auto, D, B, W-MON, MS, ME, QS-JAN, QE-DEC, ...")
    parser.add_argument("--delimiter", default="auto", help="CSV delimiter (auto-detected among , ; tab |)")
    parser.add_argument("--horizon", type=int, default=30, help="periods to forecast")
    parser.add_argument("--folds", type=int, default=3, help="rolling-origin backtest folds")
    parser.add_argument("--models", default=None, help="comma-separated families (default: all)")
    parser.add_argument("--metric", default="mase", help="selection metric: mase, smape, wape, mape, rmse")
    parser.add_argument("--level", type=float, default=0.9, help="prediction interval level")
    parser.add_argument("--holidays", default="US", help="holiday country code, or none")
    parser.add_argument("--duplicates", default="error", help="error, sum, mean or last")
    parser.add_argument("--fill-missing", default="interpolate", help="error, interpolate, zero or ffill")
    parser.add_argument("--transform", default="none", help="none or log")
    parser.add_argument("--non-negative", action="store_true", help="clip forecasts at zero")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="forecast-flows", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    forecast = sub.add_parser("forecast", help="validate, backtest, select and forecast every segment (no server needed)")
    _add_data_args(forecast)
    forecast.add_argument("--output", required=True, help="output table: .csv, .parquet, or .xlsx (summary sheet + one sheet per segment; needs the excel extra)")
    forecast.add_argument("--leaderboard", default=None, help="also write the full leaderboard here")
    forecast.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)

    train = sub.add_parser("train", help="run the forecast-training flow: train, register, smoke-test, promote, deploy")
    _add_data_args(train)
    train.add_argument("--skip-deploy", action="store_true", help="stop after promoting the champions")
    train.add_argument("--task-runner", default="threads", choices=["threads", "processes", "dask"])
    train.add_argument("--dask-address", default=None, help="tcp://host:port of an existing Dask scheduler")
    train.add_argument("--max-workers", type=int, default=2)
    train.add_argument("--segments-per-task", type=int, default=1)
    train.add_argument("--max-failed-fraction", type=float, default=0.25)
    train.add_argument("--experiment", default="finance-forecast")
    train.add_argument("--model-prefix", default="forecast")
    train.add_argument("--report", default=None, help="write the JSON run report here")
    train.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)

    serve = sub.add_parser("serve", help="the local serving endpoint")
    serve.add_argument("action", choices=["status", "stop", "rollback"])
    serve.add_argument("--json", action="store_true")
    serve.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)

    server = sub.add_parser("server", help="the local Prefect server the CLI starts for process/Dask runners and the demo")
    server.add_argument("action", choices=["start", "status", "stop"])
    server.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)

    predict = sub.add_parser("predict", help="ask the deployed endpoint for a segment's forecast")
    predict.add_argument("--segment", required=True, help='segment key or part of it, e.g. "region=EU"')
    predict.add_argument("--periods", type=int, default=14)
    predict.add_argument("--json", action="store_true")
    predict.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)

    health = sub.add_parser("health", help="check the Prefect API, MLflow tracking and registry, serving, Databricks auth")
    health.add_argument("--json", action="store_true")
    health.add_argument("--target", default="local", choices=["local", "databricks"])
    health.add_argument("--databricks-profile", default=None)
    health.add_argument("--endpoint-name", default="finance-forecast")
    health.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)

    smoke = sub.add_parser("smoke", help="smoke-test a registered model by exact version (models:/name/version)")
    smoke.add_argument("model_uri")
    smoke.add_argument("--router", action="store_true", help="the model is a multi-segment router")
    smoke.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)

    compare = sub.add_parser("compare-actuals", help="run the actuals-comparison flow: forecast vs actuals per segment, flag or retrain drifting ones")
    compare.add_argument("--actuals", required=True, help="actuals table in the training data contract (CSV or Parquet)")
    compare.add_argument("--time-col", default="ds")
    compare.add_argument("--target-col", default="y")
    compare.add_argument("--segment-cols", default="", help="comma-separated segment columns")
    compare.add_argument("--delimiter", default="auto")
    compare.add_argument("--band-metric", default="wape", choices=["wape", "mape"])
    compare.add_argument("--drift-threshold", type=float, default=0.15, help="a period misses above this |error|/|actual|")
    compare.add_argument("--consecutive-periods", type=int, default=3, help="latest periods that must all miss to call it drift")
    compare.add_argument("--on-drift", default="flag", choices=["flag", "retrain"])
    compare.add_argument("--training-deployment", default="forecast-training/weekly-retraining")
    compare.add_argument("--experiment", default="finance-forecast")
    compare.add_argument("--llm-endpoint", default=None, help="Databricks chat endpoint for the summary (default: template)")
    compare.add_argument("--output", default=None, help="per-segment report: .csv, .parquet or .xlsx (a .md and .json land beside it)")
    compare.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)

    batch = sub.add_parser("predict-batch", help="run the batch-inference flow: every champion's next periods, one long table with lineage")
    batch.add_argument("--horizon", type=int, default=None, help="periods (default: each model's trained horizon)")
    batch.add_argument("--output", default=None, help=".csv, .parquet or .xlsx (default: in the state directory)")
    batch.add_argument("--model-prefix", default="forecast")
    batch.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)

    clean = sub.add_parser("cleanup", help="run the model-cleanup flow (dry run unless --apply)")
    clean.add_argument("--keep", type=int, default=5, help="newest versions kept per model; aliased versions are always kept")
    clean.add_argument("--apply", action="store_true", help="really delete (default: only show the plan)")
    clean.add_argument("--model-prefix", default="forecast")
    clean.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)

    monitor = sub.add_parser("monitor", help="run the endpoint-monitor flow: health and latency of the serving target")
    monitor.add_argument("--target", default="local", choices=["local", "databricks"])
    monitor.add_argument("--endpoint-name", default="finance-forecast")
    monitor.add_argument("--databricks-profile", default=None)
    monitor.add_argument("--probes", type=int, default=5)
    monitor.add_argument("--max-latency-ms", type=float, default=2000.0)
    monitor.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)

    demo = sub.add_parser("demo", help="run the main job on the bundled sample data")
    demo.add_argument("--output-dir", default="out", help="where the demo writes its files")
    demo.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    return parser


def job_from_args(args):
    from forecasting.pipeline import ForecastJob

    models = {"level": args.level, "holidays_country": args.holidays, "transform": args.transform, "non_negative": args.non_negative}
    if args.models:
        models["models"] = args.models
    return ForecastJob.model_validate(
        {
            "data": {
                "time_col": args.time_col,
                "target_col": args.target_col,
                "segment_cols": args.segment_cols,
                "covariate_cols": args.covariates,
                "frequency": args.frequency,
            },
            "validation": {"duplicates": args.duplicates, "fill_missing": args.fill_missing},
            "models": models,
            "backtest": {"horizon": args.horizon, "folds": args.folds, "metric": args.metric},
        }
    )


def cmd_forecast(args) -> int:
    from forecasting.contract import read_table
    from forecasting.export import export_forecasts
    from forecasting.pipeline import forecast_frame, leaderboard_frame, run_forecast
    from forecasting.reporting import summary_lines, write_table

    job = job_from_args(args)
    frame = read_table(args.data, args.delimiter)
    started = time.perf_counter()
    run = run_forecast(frame, job)
    for line in summary_lines(run, job.backtest.metric):
        print(line)
    for outcome in run.failed:
        print(f"error: segment {outcome.segment!r}: {outcome.reason}", file=sys.stderr)
    if not run.trained:
        print("error: no segment could be trained; nothing written", file=sys.stderr)
        return EXIT_BAD_INPUT
    table = forecast_frame(run, job.data.segment_cols)
    board = leaderboard_frame(run)
    export_forecasts(table, args.output, board)
    if args.leaderboard:
        write_table(board, args.leaderboard)
    print(f"wrote {len(table)} rows for {len(run.trained)} segment(s) to {args.output} in {time.perf_counter() - started:.1f}s")
    return EXIT_SEGMENTS_FAILED if run.failed else EXIT_OK


def training_parameters(args):
    from flows.training import TrainingParameters

    job = job_from_args(args)
    return TrainingParameters.model_validate({
        "data_path": args.data, "delimiter": args.delimiter,
        **job.model_dump(),
        "tracking": {"experiment": args.experiment},
        "registry": {"model_prefix": args.model_prefix},
        "skip_deploy": args.skip_deploy,
        "policy": {"max_failed_fraction": args.max_failed_fraction, "segments_per_task": args.segments_per_task},
    })


def run_training(args) -> tuple[int, dict | None]:
    """Run the flow in this process (against a local Prefect server when the runner needs one)."""
    from flows.runners import ensure_local_server, make_task_runner

    if args.task_runner != "threads" or getattr(args, "persistent_server", False):
        api = ensure_local_server()
        print(f"Prefect API: {api} (UI: {api.removesuffix('/api')})")
    params = training_parameters(args)
    from flows.training import TrainingFailed, forecast_training

    runner = make_task_runner(args.task_runner, args.max_workers, args.dask_address)
    state = forecast_training.with_options(task_runner=runner)(params, return_state=True)
    if state.is_completed():
        return EXIT_OK, state.result()
    error = state.result(raise_on_failure=False)
    if isinstance(error, TrainingFailed):
        print(f"error: {error}", file=sys.stderr)
        return EXIT_SEGMENTS_FAILED, error.report
    if isinstance(error, BaseException):
        raise error
    raise RuntimeError(f"the training flow ended in state {state.type.value}: {state.message}")


def print_report(report: dict) -> None:
    print(f"{'segment':40s} {'status':8s} {'champion':15s} {'metric':>8s} {'baseline':>9s}  registered")
    for row in report["segments"]:
        metric = f"{row['metric_value']:.3f}" if row.get("metric_value") is not None else "-"
        base = f"{row['baseline_value']:.3f}" if row.get("baseline_value") is not None else "-"
        where = f"{row['registered_model']} v{row['version']}" if row.get("version") else (row.get("reason") or "")[:80]
        print(f"{row['segment'][:40]:40s} {row['status']:8s} {str(row.get('champion') or '-'):15s} {metric:>8s} {base:>9s}  {where}")
    if report.get("router"):
        print(f"router: {report['router']['name']} v{report['router']['version']} ({report['router']['smoke']})")
    if report.get("endpoint"):
        print(f"endpoint: {report['endpoint']['url']} serving {report['endpoint']['model']} v{report['endpoint']['version']}")


def cmd_train(args) -> int:
    from forecasting.reporting import write_json

    code, report = run_training(args)
    if report:
        print_report(report)
        if args.report:
            write_json(report, args.report)
            print(f"report: {args.report}")
    return code


def cmd_serve(args) -> int:
    import json

    from forecasting.serving.local import LocalTarget

    target = LocalTarget()
    if args.action == "stop":
        target.undeploy()
        print("local endpoint stopped")
        return EXIT_OK
    status = target.rollback() if args.action == "rollback" else target.status()
    if args.json:
        print(json.dumps(status.__dict__, default=str))
    else:
        state = "ready" if status.ready else "NOT READY"
        print(f"local endpoint: {state} {status.url or ''} {status.model or ''} v{status.version or '-'} ({status.detail})")
    return EXIT_OK if status.ready else EXIT_SEGMENTS_FAILED


def cmd_server(args) -> int:
    import json

    from flows.runners import ensure_local_server, stop_local_server
    from forecasting.settings import state_dir

    record = state_dir() / "prefect" / "server.json"
    if args.action == "stop":
        print("local Prefect server stopped" if stop_local_server() else "no local Prefect server was recorded")
        return EXIT_OK
    if args.action == "start":
        api = ensure_local_server()
        print(f"Prefect API: {api}  UI: {api.removesuffix('/api')}")
        return EXIT_OK
    if not record.exists():
        print("no local Prefect server recorded (the CLI starts one when a runner needs it)")
        return EXIT_SEGMENTS_FAILED
    known = json.loads(record.read_text())
    print(f"local Prefect server: pid {known['pid']}, API {known['api_url']}, UI {known['ui_url']}")
    return EXIT_OK


def cmd_predict(args) -> int:
    from forecasting.serving import DeployError
    from forecasting.serving.local import LocalTarget
    from forecasting.serving.requests import segment_request

    target = LocalTarget()
    status = target.status()
    if not status.ready:
        raise DeployError(f"the local endpoint is not serving ({status.detail}); run `forecast-flows train` first")
    from forecasting.settings import TrackingConfig

    tracking = TrackingConfig(tracking_uri=status.extra.get("tracking_uri"), registry_uri=status.extra.get("registry_uri"))
    request = segment_request(status.model, status.version, args.segment, args.periods, tracking)
    answer = target.predict(request)
    if args.json:
        print(answer.to_json(orient="records"))
    else:
        print(answer.to_string(index=False))
    return EXIT_OK


def cmd_demo(args) -> int:
    """The main job on the bundled sample data, through a local Prefect server, ending in a served router."""
    print(f"demo: training {SAMPLE_DATA.relative_to(PACKAGE_ROOT)} (3 segments, horizon 30) through the forecast-training flow")
    demo_args = build_parser().parse_args(
        ["train", "--data", str(SAMPLE_DATA), "--segment-cols", "region,product", "--horizon", "30",
         "--report", str(Path(args.output_dir) / "training-report.json")]
    )
    demo_args.persistent_server = True
    code = cmd_train(demo_args)
    from forecasting.settings import TrackingConfig

    tracking = TrackingConfig().resolved_tracking_uri()
    print("\nwhere to look:")
    print(f"  Prefect UI : {os.environ.get('PREFECT_API_URL', '').removesuffix('/api')}  (flow run 'forecast-training', tab Artifacts)")
    print(f"  MLflow UI  : .venv/bin/mlflow ui --backend-store-uri {tracking}   then http://127.0.0.1:5000")
    print("  endpoint   : .venv/bin/forecast-flows serve status ; .venv/bin/forecast-flows predict --segment region=EU --periods 14")
    return code


def cmd_smoke(args) -> int:
    from forecasting.errors import ConfigError
    from forecasting.router import smoke_test_router
    from forecasting.smoke import smoke_test
    from forecasting.tracking import quiet_mlflow

    if not args.model_uri.startswith("models:/") or "@" in args.model_uri or args.model_uri.rstrip("/").endswith("latest"):
        raise ConfigError(f"smoke tests take an exact version, models:/name/version; got {args.model_uri!r}")
    quiet_mlflow()
    report = (smoke_test_router if args.router else smoke_test)(args.model_uri)
    print(report.summary())
    return EXIT_OK if report.passed else EXIT_SEGMENTS_FAILED


def cmd_health(args) -> int:
    import json

    from forecasting.health import healthy, run_checks
    from forecasting.serving import DeployConfig

    deploy = DeployConfig(target=args.target, databricks_profile=args.databricks_profile, endpoint_name=args.endpoint_name)
    checks = run_checks(deploy=deploy)
    if args.json:
        print(json.dumps({"healthy": healthy(checks), "checks": [c.as_dict() for c in checks]}))
    else:
        print(f"{'check':18s} {'state':6s} {'required':8s} {'seconds':>7s}  detail")
        for c in checks:
            state = "ok" if c.ok else "FAIL"
            print(f"{c.name:18s} {state:6s} {'yes' if c.required else 'no':8s} {c.seconds:7.2f}  {c.detail}")
    return EXIT_OK if healthy(checks) else EXIT_SEGMENTS_FAILED


def cmd_compare_actuals(args) -> int:
    from flows.actuals_comparison import ComparisonParameters, actuals_comparison

    params = ComparisonParameters.model_validate({
        "actuals_path": args.actuals, "delimiter": args.delimiter,
        "data": {"time_col": args.time_col, "target_col": args.target_col, "segment_cols": args.segment_cols},
        "policy": {"band_metric": args.band_metric, "drift_threshold": args.drift_threshold,
                   "consecutive_periods": args.consecutive_periods, "on_drift": args.on_drift},
        "tracking": {"experiment": args.experiment}, "training_deployment": args.training_deployment,
        "output_path": args.output, "summary": {"llm_endpoint": args.llm_endpoint},
    })
    result = actuals_comparison(params)
    print(f"{'segment':40s} {'status':10s} {'WAPE':>7s} {'MAPE':>7s} {'bias':>7s} {'cover':>6s}  drift")
    pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
    for row in result["segments"]:
        print(f"{row['segment'][:40]:40s} {row['status']:10s} {pct(row['wape']):>7s} {pct(row['mape']):>7s} {pct(row['bias']):>7s} "
              f"{pct(row['coverage']):>6s}  {'DRIFTING' if row['drifting'] else ''}")
    totals = result["totals"]
    if totals.get("segments"):
        print(f"{'total (volume-weighted)':40s} {totals['status']:10s} {pct(totals['wape']):>7s} {pct(totals['mape']):>7s} {pct(totals['bias']):>7s} {pct(totals['coverage']):>6s}")
    if result["unmatched"]:
        print(f"no champion forecast for: {', '.join(result['unmatched'])}", file=sys.stderr)
    print(f"report: {result['report_path']}  summary: {result['summary_path']}")
    if result["retraining"]:
        print(f"retraining started for {', '.join(result['drifting'])}: flow run {result['retraining']['flow_run_name']} of {result['retraining']['deployment']}")
    elif result["drifting"]:
        print(f"drifting (flagged, not retrained): {', '.join(result['drifting'])}", file=sys.stderr)
    if not result["segments"]:
        print("error: no actuals matched a champion forecast", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_SEGMENTS_FAILED if result["drifting"] else EXIT_OK


def cmd_predict_batch(args) -> int:
    from flows.batch_inference import BatchInferenceParameters, batch_inference

    params = BatchInferenceParameters(horizon=args.horizon, output_path=args.output, registry={"model_prefix": args.model_prefix})
    result = batch_inference(params)
    print(f"wrote {result['rows']} rows for {result['segments']} segment(s) to {result['output_path']}")
    return EXIT_OK


def cmd_cleanup(args) -> int:
    from flows.model_cleanup import CleanupParameters, model_cleanup

    plan = model_cleanup(CleanupParameters(keep=args.keep, dry_run=not args.apply, registry={"model_prefix": args.model_prefix}))
    for row in plan:
        print(f"{row['name']:50s} v{row['version']:>4s}  {row['action']:12s} {row['reason']}")
    gone = sum(row["action"] in ("deleted", "would delete") for row in plan)
    print(f"{'deleted' if args.apply else 'would delete (dry run; --apply to delete)'}: {gone} version(s)")
    return EXIT_OK


def cmd_monitor(args) -> int:
    from flows.endpoint_monitor import MonitorParameters, endpoint_monitor

    params = MonitorParameters(deploy={"target": args.target, "endpoint_name": args.endpoint_name, "databricks_profile": args.databricks_profile},
                               probes=args.probes, max_latency_ms=args.max_latency_ms)
    from flows.endpoint_monitor import EndpointUnhealthy

    try:
        report = endpoint_monitor(params)
    except EndpointUnhealthy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SEGMENTS_FAILED
    print(f"{report['target']} endpoint healthy: {report['url']} {report['model']} v{report['version']}, "
          f"{len(report['latencies_ms'])} probes, p50 {report['p50_ms']:.0f} ms, p95 {report['p95_ms']:.0f} ms")
    return EXIT_OK


COMMANDS = {"compare-actuals": cmd_compare_actuals, "predict-batch": cmd_predict_batch, "cleanup": cmd_cleanup, "monitor": cmd_monitor,
            "health": cmd_health, "server": cmd_server, "forecast": cmd_forecast, "train": cmd_train, "serve": cmd_serve, "predict": cmd_predict, "smoke": cmd_smoke, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    pin_native_threads()
    # A fresh ephemeral Prefect API migrates its SQLite database first: give it time on a slow machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry errors offline
    try:
        return COMMANDS[args.command](args)
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT


def one_line(exc: Exception) -> str:
    """A user-facing one-line message, including for pydantic's multi-line validation errors."""
    from pydantic import ValidationError

    from forecasting.errors import ForecastingError

    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        return f"invalid setting {where}: {message} (got {first.get('input')!r})"
    if isinstance(exc, ForecastingError):
        return str(exc).replace("\n", " ")
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} (rerun with --debug for the traceback)"


if __name__ == "__main__":
    sys.exit(main())
