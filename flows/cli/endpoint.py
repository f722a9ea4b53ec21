"""The endpoint commands: `serve` (local endpoint status, stop, rollback), `server` (the local Prefect
server), `predict`, `health` and `smoke`."""

from __future__ import annotations

from flows.cli.exits import EXIT_OK, EXIT_SEGMENTS_FAILED
from flows.cli.parser import given


def cmd_serve(args) -> int:
    import json

    if args.action in ("list", "delete"):
        return databricks_endpoints(args)
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


def databricks_endpoints(args) -> int:
    """`serve list` and `serve delete NAME`: the workspace's serving endpoints (auth from the environment
    or --databricks-profile)."""
    import json

    from forecasting.errors import ConfigError
    from forecasting.serving import DeployConfig
    from forecasting.serving.databricks_endpoints import delete_endpoint, list_endpoints

    config = DeployConfig(target="databricks", **given(databricks_profile=args.databricks_profile))
    if args.action == "delete":
        if not args.name:
            raise ConfigError("serve delete needs the endpoint's name: forecast-flows serve delete NAME")
        delete_endpoint(args.name, config)
        print(f"deleted Databricks serving endpoint {args.name}")
        return EXIT_OK
    rows = list_endpoints(config)
    if args.json:
        print(json.dumps(rows))
        return EXIT_OK
    print(f"{'endpoint':32s} {'ready':10s} {'update':14s} {'serving':44s} inference table")
    for row in rows:
        print(f"{row['name'][:32]:32s} {str(row['ready'] or '-'):10s} {str(row['config_update'] or '-'):14s} {(row['serving'] or '-')[:44]:44s} "
              f"{row['inference_table'] or '-'}")
    if not rows:
        print("(no serving endpoints)")
    return EXIT_OK


def cmd_server(args) -> int:
    """The local Prefect server and, beside it, the MLflow UI on the local tracking store."""
    import json

    from flows.local_server import (
        configured_api,
        ensure_local_server,
        stop_local_server,
    )
    from flows.mlflow_ui import mlflow_ui_url, recorded, start_mlflow_ui, stop_mlflow_ui
    from forecasting.errors import ConfigError
    from forecasting.mlops.config import TrackingConfig
    from forecasting.system.state import state_dir

    record = state_dir() / "prefect" / "server.json"
    if args.action == "stop":
        print("local Prefect server stopped" if stop_local_server() else "no local Prefect server was recorded")
        print("local MLflow UI stopped" if stop_mlflow_ui() else "no local MLflow UI was recorded")
        return EXIT_OK
    if args.action == "start":
        if args.database and configured_api():
            raise ConfigError(f"PREFECT_API_URL is set ({configured_api()}): runs use that server; unset it to start a local one")
        api = ensure_local_server(database=args.database)
        database = json.loads(record.read_text()).get("database", "sqlite") if record.exists() else "not local"
        print(f"Prefect API: {api}  UI: {api.removesuffix('/api')}  database: {database}")
        tracking = TrackingConfig()
        ui = start_mlflow_ui(tracking)
        if ui is None:
            print(f"MLflow UI: {tracking.resolved_tracking_uri()} (a tracking server: its own UI)")
        else:
            ready = mlflow_ui_url(ui["tracking_uri"], wait=60.0)
            print(f"MLflow UI: {ui['url']}" + ("" if ready else f" (still starting; log: {state_dir() / 'mlflow-ui' / 'server.log'})"))
        return EXIT_OK
    code = EXIT_OK
    if record.exists():
        known = json.loads(record.read_text())
        print(f"local Prefect server: pid {known['pid']}, API {known['api_url']}, UI {known['ui_url']}, database {known.get('database', 'sqlite')}")
    else:
        print("no local Prefect server recorded (the CLI starts one when a runner needs it)")
        code = EXIT_SEGMENTS_FAILED
    ui = recorded()
    print(f"local MLflow UI: pid {ui['pid']}, {ui['url']} ({ui['tracking_uri']})" if ui else "no local MLflow UI recorded (forecast-flows server start)")
    return code


def cmd_predict(args) -> int:
    from forecasting.serving import DeployError
    from forecasting.serving.local import LocalTarget
    from forecasting.serving.requests import segment_request

    target = LocalTarget()
    status = target.status()
    if not status.ready:
        raise DeployError(f"the local endpoint is not serving ({status.detail}); run `forecast-flows train` first")
    from forecasting.mlops.config import TrackingConfig

    tracking = TrackingConfig(tracking_uri=status.extra.get("tracking_uri"), registry_uri=status.extra.get("registry_uri"))
    request = segment_request(status.model, status.version, args.segment, args.periods, tracking)
    answer = target.predict(request)
    if args.json:
        print(answer.to_json(orient="records"))
    else:
        print(answer.to_string(index=False))
    return EXIT_OK


def cmd_smoke(args) -> int:
    from forecasting.errors import ConfigError
    from forecasting.mlops.router import smoke_test_router
    from forecasting.mlops.smoke import smoke_test
    from forecasting.mlops.tracking import quiet_mlflow

    if not args.model_uri.startswith("models:/") or "@" in args.model_uri or args.model_uri.rstrip("/").endswith("latest"):
        raise ConfigError(f"smoke tests take an exact version, models:/name/version; got {args.model_uri!r}")
    quiet_mlflow()
    report = (smoke_test_router if args.router else smoke_test)(args.model_uri)
    print(report.summary())
    return EXIT_OK if report.passed else EXIT_SEGMENTS_FAILED


def cmd_health(args) -> int:
    import json

    from forecasting.ops.health import healthy, run_checks
    from forecasting.serving import DeployConfig

    deploy = DeployConfig(**given(target=args.target, databricks_profile=args.databricks_profile, endpoint_name=args.endpoint_name))
    checks = run_checks(deploy=deploy)
    if args.json:
        print(json.dumps({"healthy": healthy(checks), "checks": [c.as_dict() for c in checks]}))
    else:
        print(f"{'check':18s} {'state':6s} {'required':8s} {'seconds':>7s}  detail")
        for c in checks:
            state = "ok" if c.ok else "FAIL"
            print(f"{c.name:18s} {state:6s} {'yes' if c.required else 'no':8s} {c.seconds:7.2f}  {c.detail}")
    return EXIT_OK if healthy(checks) else EXIT_SEGMENTS_FAILED
