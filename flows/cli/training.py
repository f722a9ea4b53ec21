"""The training commands: `forecast` (no server), `train` (the forecast-training flow) and `demo`."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from flows.cli.exits import EXIT_BAD_INPUT, EXIT_OK, EXIT_SEGMENTS_FAILED
from flows.cli.parser import build_parser, given

PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLE_DATA = PACKAGE_ROOT / "examples" / "data" / "tourism_zones.csv"  # a real grouped sample: 4 states x 3 zones


def job_from_args(args):
    """The forecast job from the flags the user gave; every other setting is the models' default."""
    from forecasting.models.options import parse_assignments
    from forecasting.pipeline import ForecastJob

    missing = args.covariate_missing
    by_column = missing if missing and "=" in missing else None
    options = parse_assignments(args.model_option or [])
    return ForecastJob.model_validate({
        "data": given(time_col=args.time_col, target_col=args.target_col, segment_cols=args.segment_cols,
                      covariate_cols=args.covariates, frequency=args.frequency, decimal=args.decimal, date_format=args.date_format,
                      aggregate=args.aggregate,
                      aggregate_how=args.aggregate_how, start=args.start, end=args.end),
        "validation": given(duplicates=args.duplicates, fill_missing=args.fill_missing, incomplete_trailing=args.incomplete_trailing,
                            stale=args.stale, stale_after=args.stale_after,
                            covariate_missing=None if by_column else missing, covariate_missing_by_column=by_column),
        "models": given(models=args.models, level=args.level, holidays_country=args.holidays, transform=args.transform,
                        non_negative=args.non_negative, all_models=args.all_models) | options,
        "backtest": given(horizon=args.horizon, folds=args.folds, metric=args.metric),
    })


def cmd_forecast(args) -> int:
    from flows.cli.progress import ProgressBar
    from flows.cli.sources import data_source, open_output_table, write_forecast_run
    from forecasting.errors import ConfigError
    from forecasting.intake import load_data
    from forecasting.explain.bridge import bridge_lines
    from forecasting.ops.export import EXCEL_SUFFIXES, export_forecasts
    from forecasting.pipeline import (
        forecast_frame,
        key_column,
        leaderboard_frame,
        run_forecast,
    )
    from forecasting.reporting import summary_lines
    from forecasting.system.runtime import usable_cores
    from forecasting.tables import write_table

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    job = job_from_args(args)
    source = data_source(args.data, args, args.delimiter, args.sheet)
    output_table = open_output_table(args.output, args.output_table)  # a table we may not write fails before any training
    if (args.reconcile or "none") != "none":  # every level of the segment columns, reconciled
        from flows.cli.hierarchy import cmd_forecast_hierarchy

        return cmd_forecast_hierarchy(args, job, source, output_table)
    frame, spec = load_data(source, job.data, args.delimiter, args.sheet, args.covariates_file)
    job = job.model_copy(update={"data": spec})
    started = time.perf_counter()
    workbook = Path(args.output).suffix.lower() in EXCEL_SUFFIXES
    explain = bool(getattr(args, "components", False)) or workbook  # the workbook has components and bridge sheets
    run = run_forecast(frame, job, workers=args.workers or usable_cores(), progress=ProgressBar("forecast"), explain=explain)
    for line in summary_lines(run, job.backtest.metric):
        print(line)
    for outcome in run.failed:
        print(f"error: segment {outcome.segment!r}: {outcome.reason}", file=sys.stderr)
    for outcome in run.skipped:
        print(f"skipped: segment {outcome.segment!r}: {outcome.reason}", file=sys.stderr)
    if not run.trained:
        print("error: no segment could be trained; nothing written", file=sys.stderr)
        return EXIT_BAD_INPUT
    if getattr(args, "components", False):
        for outcome in run.trained:
            if outcome.explanation is not None:
                print("\n".join(bridge_lines(outcome.segment, outcome.explanation.bridge)))
    key = key_column(job.data.segment_cols)
    board = leaderboard_frame(run, job.data.segment_cols)
    if output_table is not None:
        table = forecast_frame(run, job.data.segment_cols, components=bool(getattr(args, "components", False)))
        written = write_forecast_run(output_table, run, job, source)
    elif workbook:
        from forecasting.ops.audit import audit_facts
        from forecasting.ops.workbook import write_audited_workbook

        table = forecast_frame(run, job.data.segment_cols, components=True)
        write_audited_workbook(table, args.output, run, board, key, audit_facts(run, job, args.data),
                               keep_components=bool(getattr(args, "components", False)))
        written = args.output
    else:
        table = forecast_frame(run, job.data.segment_cols, components=bool(getattr(args, "components", False)))
        export_forecasts(table, args.output, board, key)
        written = args.output
    if args.leaderboard:
        write_table(board, args.leaderboard)
    print(f"wrote {len(table)} rows for {len(run.trained)} segment(s) to {written} in {time.perf_counter() - started:.1f}s")
    return EXIT_SEGMENTS_FAILED if run.failed else EXIT_OK


def cmd_validate(args) -> int:
    """Validation only: every segment's report and row accounting, printed and optionally as JSON.
    Exit 0 when every segment can be forecast (warnings allowed), 1 when some cannot, 2 when nothing
    can be read."""
    from flows.cli.sources import data_source
    from forecasting.intake import load_data
    from forecasting.pipeline import prepare
    from forecasting.reporting import validation_lines
    from forecasting.tables import write_json

    job = job_from_args(args)
    source = data_source(args.data, args, args.delimiter, args.sheet)
    frame, spec = load_data(source, job.data, args.delimiter, args.sheet, args.covariates_file)
    report, _ = prepare(frame, job.model_copy(update={"data": spec}))
    for line in validation_lines(report):
        print(line)
    if args.report:
        write_json(report_json(report), args.report)
        print(f"report: {args.report}")
    for key in report.failed:
        print(f"error: segment {key!r}: {'; '.join(f.message for f in report.segments[key].errors)}", file=sys.stderr)
    return EXIT_SEGMENTS_FAILED if report.failed else EXIT_OK


def report_json(report) -> dict:
    """The validation report as JSON: the table's notes and last date, and per segment its status,
    findings and row accounting (with ``balanced``: read == used + dropped + merged)."""
    segments = {}
    for key, seg in report.segments.items():
        body = seg.model_dump(mode="json")
        body["status"] = "skipped" if seg.ok and seg.skipped else "ok" if seg.ok else "failed"
        body["accounting"].update(rows_dropped=seg.accounting.rows_dropped, balanced=seg.accounting.balanced)
        segments[key] = body
    return {"notes": report.notes, "last_date": report.last_date, "segments": segments,
            "rows_read": sum(s.accounting.rows_read for s in report.segments.values())}


def training_parameters(args):
    from flows.cli.sources import source_parameters
    from flows.parameters import TrainingParameters

    job = job_from_args(args)
    # Unity Catalog names need the Unity Catalog registry, unless the environment already names one
    uc_registry = "databricks-uc" if args.catalog and not os.environ.get("MLFLOW_REGISTRY_URI") else None
    return TrainingParameters.model_validate({
        **source_parameters(args), "covariates_path": args.covariates_file,
        **job.model_dump(),
        "tracking": given(experiment=args.experiment, registry_uri=uc_registry),
        "registry": given(model_prefix=args.model_prefix, uc_catalog=args.catalog, uc_schema=args.schema),
        "deploy": given(target=args.target, endpoint_name=args.endpoint, workload_size=args.workload_size, scale_to_zero=args.scale_to_zero,
                        inference_table=args.inference_table, databricks_profile=args.databricks_profile),
        "hierarchy": given(reconcile=args.reconcile, levels=args.levels, middle_level=args.middle_level),
        **given(skip_deploy=args.skip_deploy),
        "policy": given(max_failed_fraction=args.max_failed_fraction, segments_per_task=args.segments_per_task,
                        task_runner=args.task_runner, workers=args.workers, dask_address=args.dask_address,
                        result_storage=args.result_storage),
    })


def run_training(args) -> tuple[int, dict | None]:
    """Run the flow in this process; its workers (processes by default) report to a local Prefect server."""
    from flows.runners import ensure_local_server

    params = training_parameters(args)
    if params.policy.task_runner != "threads" or getattr(args, "persistent_server", False):
        api = ensure_local_server()
        print(f"Prefect API: {api} (UI: {api.removesuffix('/api')})")
    if params.policy.task_runner == "dask" and params.policy.dask_address:
        # the flow checks it too (deployments, Python); here a cluster that cannot run it is one line, and no run starts
        from flows.dask_cluster import check_workers_reach
        from tasks.policies import result_storage

        check_workers_reach(params.policy.dask_address, params.tracking.resolved(), result_storage(params.policy.result_storage).local_dir)
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
    reconciled = report.get("reconciliation")
    if reconciled:
        if reconciled.get("error"):
            print(f"reconciliation: {reconciled['error']}")
        else:
            print(f"reconciliation: {reconciled['method']} ({reconciled['asked']}) over {reconciled['nodes']} node(s); why: {reconciled['why']}; "
                  f"sums hold to {reconciled['coherence_gap']:.1e}")
            for level in reconciled["levels"]:
                scores = ", ".join(f"{k} {v:.3f}" for k, v in level.items() if k not in ("level", "nodes", "metric", "folds_scored", "used")
                                   and isinstance(v, float))
                print(f"  {level['level']:<20s} {level['nodes']:>4} node(s): {scores}")
    for line in total_bridge_lines(report):
        print(line)
    if report.get("changes"):
        for line in changes_lines(report["changes"]):
            print(line)
    if report.get("router"):
        print(f"router: {report['router']['name']} v{report['router']['version']} ({report['router']['smoke']})")
    if report.get("endpoint"):
        print(f"endpoint: {report['endpoint']['url']} serving {report['endpoint']['model']} v{report['endpoint']['version']}")
    if report.get("forecast_table"):
        vintage = report["forecast_table"]
        print(f"forecast table: {vintage['rows']} rows appended to {vintage['table']} (run_id {vintage['run_id']})")


def total_bridge_lines(report: dict) -> list[str]:
    """The run's total bridge from last year (a hierarchy's total node, else the segments' sum), as the
    Prefect run's ``bridge-total`` artifact shows it."""
    from forecasting.explain.bridge import bridge_lines
    from forecasting.ops.charts import run_total

    bridges = {row["segment"]: row["bridge"] for row in report["segments"] if row.get("bridge")}
    hierarchy = report.get("reconciliation")
    if not bridges or (hierarchy is not None and not hierarchy.get("total")):
        return []
    title, total, how = run_total(bridges, hierarchy["total"] if hierarchy else None)
    return [f"bridge from last year ({how}):", *bridge_lines(title, total)] if total is not None else []


def changes_lines(changes: dict, shown: int = 3) -> list[str]:
    """What changed since the last forecast, in a few lines: the segments that moved most."""
    from forecasting.amounts import amount

    moved = changes["segments"]
    if not moved:
        why = "first forecast, no previous vintage of these dates" if changes["first"] else "nothing to compare"
        if changes.get("unchanged"):
            why = f"{len(changes['unchanged'])} segment(s) kept the champion version of their previous forecast: unchanged"
        return [f"what changed since the last forecast: {why} ({changes.get('looked_in', '')})"]
    lines = [f"what changed since the last forecast: {len(moved)} segment(s) compared with their previous vintage; moved most:"]
    for r in moved[:shown]:
        pct = f" ({r['change_pct']:+.1%})" if r.get("change_pct") is not None else ""
        lines.append(f"  {r['segment']:<40s} {amount(r['change'], True)}{pct} = data {amount(r['data'], True)} + model "
                     f"{amount(r['model'], True)} + rest {amount(r['rest'], True)}")
    return lines


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
    print(f"demo: training {SAMPLE_DATA.relative_to(PACKAGE_ROOT)} (12 segments: 4 states x 3 zones, quarterly; with the total, each "
          "state and each zone, 20 nodes reconciled by --reconcile auto; horizon 8) through the forecast-training flow")
    demo_args = build_parser().parse_args(
        ["train", "--data", str(SAMPLE_DATA), "--segment-cols", "state,zone", "--reconcile", "auto", "--horizon", "8",
         "--report", str(Path(args.output_dir) / "training-report.json")]
    )
    demo_args.persistent_server = True
    from flows.mlflow_ui import mlflow_ui_url, start_mlflow_ui
    from forecasting.mlops.config import TrackingConfig

    tracking = TrackingConfig().resolved_tracking_uri()
    try:
        start_mlflow_ui()  # starts while the demo trains; the run summary links to it
    except Exception as exc:  # the demo still runs; the summary then names the tracking store instead
        print(f"note: the MLflow UI did not start ({type(exc).__name__}: {exc})", file=sys.stderr)
    code = cmd_train(demo_args)
    mlflow_ui = mlflow_ui_url(tracking, wait=30.0)
    print("\nwhere to look:")
    print(f"  Prefect UI : {os.environ.get('PREFECT_API_URL', '').removesuffix('/api')}  (flow run 'forecast-training', tab Artifacts: forecast charts, waterfalls "
          "of the bridge from last year, the reconciled total, what changed in the summary)")
    print(f"  MLflow UI  : {mlflow_ui or f'.venv/bin/forecast-flows server start   (tracking store: {tracking})'}")
    print("  endpoint   : .venv/bin/forecast-flows serve status ; .venv/bin/forecast-flows predict --segment state=NSW --periods 8"
          "   (NSW's total; state=NSW|zone=Coast for one zone: they add up)")
    return code
