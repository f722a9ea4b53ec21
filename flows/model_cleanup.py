"""The `model-cleanup` flow: keep the newest versions of every registered model (and every version an
alias points at); dry run by default."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.parameters import CleanupParameters
from tasks.artifacts import plan_artifact
from tasks.operations import cleanup_models, list_models


@flow(name="model-cleanup", log_prints=True)
def model_cleanup(params: CleanupParameters = CleanupParameters()) -> list[dict]:
    """Plan (dry run) or apply the registry cleanup.

    Returns:
        One row per model version: kept (newest, or carrying an alias) or deleted / would delete.
    """
    tracking = params.tracking.resolved()  # once, here: the plan and its application read the same registry
    names = list_models(tracking, params.registry, params.include_router)
    plan = cleanup_models(names, tracking, params.keep, params.dry_run)
    plan_artifact(plan, params.dry_run)
    deleted = [p for p in plan if p["action"] in ("deleted", "would delete")]
    get_run_logger().info("%s %d version(s) across %d model(s)", "would delete" if params.dry_run else "deleted", len(deleted), len(names))
    return plan
