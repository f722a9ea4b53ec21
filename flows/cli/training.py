"""The training commands: `forecast` (no server), `train` (the forecast-training flow) and `demo`."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from flows.cli.exits import EXIT_BAD_INPUT, EXIT_OK, EXIT_SEGMENTS_FAILED
from flows.cli.parser import build_parser, given

PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLE_DATA = PACKAGE_ROOT / "examples" / "data" / "finance_segments.csv"


def job_from_args(args):
    """The forecast job from the flags the user gave; every other setting is the models' default."""
    from forecasting.pipeline import ForecastJob

    return ForecastJob.model_validate({
        "data": given(time_col=args.time_col, target_col=args.target_col, segment_cols=args.segment_cols,
                      covariate_cols=args.covariates, frequency=args.frequency),
        "validation": given(duplicates=args.duplicates, fill_missing=args.fill_missing),
        "models": given(models=args.models, level=args.level, holidays_country=args.holidays, transform=args.transform,
                        non_negative=args.non_negative),
        "backtest": given(horizon=args.horizon, folds=args.folds, metric=args.metric),
    })


def cmd_forecast(args) -> int:
    from flows.cli.progress import ProgressBar
    from forecasting.errors import ConfigError
    from forecasting.ops.export import export_forecasts
    from forecasting.pipeline import forecast_frame, leaderboard_frame, run_forecast
    from forecasting.reporting import summary_lines
    from forecasting.system.runtime import usable_cores
    from forecasting.tables import read_table, write_table

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    job = job_from_args(args)
    frame = read_table(args.data, args.delimiter)
    started = time.perf_counter()
    run = run_forecast(frame, job, workers=args.workers or usable_cores(), progress=ProgressBar("forecast"))
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
    from flows.parameters import TrainingParameters

    job = job_from_args(args)
    return TrainingParameters.model_validate({
        "data_path": args.data, "delimiter": args.delimiter,
        **job.model_dump(),
        "tracking": given(experiment=args.experiment),
        "registry": given(model_prefix=args.model_prefix),
        **given(skip_deploy=args.skip_deploy),
        "policy": given(max_failed_fraction=args.max_failed_fraction, segments_per_task=args.segments_per_task,
                        task_runner=args.task_runner, workers=args.workers, dask_address=args.dask_address),
    })


def run_training(args) -> tuple[int, dict | None]:
    """Run the flow in this process; its workers (processes by default) report to a local Prefect server."""
    from flows.runners import ensure_local_server

    params = training_parameters(args)
    if params.policy.task_runner != "threads" or getattr(args, "persistent_server", False):
        api = ensure_local_server()
        print(f"Prefect API: {api} (UI: {api.removesuffix('/api')})")
    from flows.training import TrainingFailed, forecast_training

    state = forecast_training(params, return_state=True)
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
    from forecasting.tables import write_json

    code, report = run_training(args)
    if report:
        print_report(report)
        if args.report:
            write_json(report, args.report)
            print(f"report: {args.report}")
    return code


def cmd_demo(args) -> int:
    """The main job on the bundled sample data, through a local Prefect server, ending in a served router."""
    print(f"demo: training {SAMPLE_DATA.relative_to(PACKAGE_ROOT)} (3 segments, horizon 30) through the forecast-training flow")
    demo_args = build_parser().parse_args(
        ["train", "--data", str(SAMPLE_DATA), "--segment-cols", "region,product", "--horizon", "30",
         "--report", str(Path(args.output_dir) / "training-report.json")]
    )
    demo_args.persistent_server = True
    code = cmd_train(demo_args)
    from forecasting.mlops.config import TrackingConfig

    tracking = TrackingConfig().resolved_tracking_uri()
    print("\nwhere to look:")
    print(f"  Prefect UI : {os.environ.get('PREFECT_API_URL', '').removesuffix('/api')}  (flow run 'forecast-training', tab Artifacts)")
    print(f"  MLflow UI  : .venv/bin/mlflow ui --backend-store-uri {tracking}   then http://127.0.0.1:5000")
    print("  endpoint   : .venv/bin/forecast-flows serve status ; .venv/bin/forecast-flows predict --segment region=EU --periods 14")
    return code
