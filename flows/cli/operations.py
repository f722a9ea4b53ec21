"""The operations commands, each running its flow: `compare-actuals`, `predict-batch`, `cleanup`,
`monitor`."""

from __future__ import annotations

import sys

from flows.cli.exits import EXIT_BAD_INPUT, EXIT_OK, EXIT_SEGMENTS_FAILED
from flows.cli.parser import given


def cmd_compare_actuals(args) -> int:
    from flows.actuals_comparison import actuals_comparison
    from flows.cli.sources import actuals_parameters
    from flows.parameters import ComparisonParameters

    params = ComparisonParameters.model_validate({
        **actuals_parameters(args), "delimiter": args.delimiter,
        "data": given(time_col=args.time_col, target_col=args.target_col, segment_cols=args.segment_cols),
        "policy": given(band_metric=args.band_metric, drift_threshold=args.drift_threshold,
                        consecutive_periods=args.consecutive_periods, on_drift=args.on_drift),
        "tracking": given(experiment=args.experiment), **given(training_deployment=args.training_deployment),
        "output_path": args.output, "summary": given(llm_endpoint=args.llm_endpoint),
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
    sources = [row.get("forecast_source") for row in result["segments"] if row.get("forecast_source")]
    if sources:
        print("compared with: " + ", ".join(f"{name} ({sources.count(name)} segment(s))" for name in sorted(set(sources))))
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
    from flows.batch_inference import batch_inference
    from flows.cli.sources import forecast_table_parameters
    from flows.parameters import BatchInferenceParameters

    table = forecast_table_parameters(args.output, args.output_table, args.credentials_block)
    params = BatchInferenceParameters(horizon=args.horizon, output_path=None if table else args.output, registry=given(model_prefix=args.model_prefix),
                                      forecast_table=table)
    result = batch_inference(params)
    print(f"wrote {result['rows']} rows for {result['segments']} segment(s) to {result['output_path']}")
    if result.get("forecast_table"):
        print(f"appended to {result['forecast_table']['table']} (run_id {result['forecast_table']['run_id']})")
    return EXIT_OK


def cmd_cleanup(args) -> int:
    from flows.model_cleanup import model_cleanup
    from flows.parameters import CleanupParameters

    plan = model_cleanup(CleanupParameters(**given(keep=args.keep), dry_run=not args.apply, registry=given(model_prefix=args.model_prefix)))
    for row in plan:
        print(f"{row['name']:50s} v{row['version']:>4s}  {row['action']:12s} {row['reason']}")
    gone = sum(row["action"] in ("deleted", "would delete") for row in plan)
    print(f"{'deleted' if args.apply else 'would delete (dry run; --apply to delete)'}: {gone} version(s)")
    return EXIT_OK


def cmd_monitor(args) -> int:
    from flows.endpoint_monitor import endpoint_monitor
    from flows.parameters import MonitorParameters

    params = MonitorParameters(deploy=given(target=args.target, endpoint_name=args.endpoint_name, databricks_profile=args.databricks_profile),
                               **given(probes=args.probes, max_latency_ms=args.max_latency_ms))
    from flows.endpoint_monitor import EndpointUnhealthy

    try:
        report = endpoint_monitor(params)
    except EndpointUnhealthy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SEGMENTS_FAILED
    print(f"{report['target']} endpoint healthy: {report['url']} {report['model']} v{report['version']}, "
          f"{len(report['latencies_ms'])} probes, p50 {report['p50_ms']:.0f} ms, p95 {report['p95_ms']:.0f} ms")
    return EXIT_OK
