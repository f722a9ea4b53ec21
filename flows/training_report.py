"""The training run's report, assembled from the records the stages return. Pure functions: no Prefect,
no MLflow calls, so what a user reads after a run is unit-tested on its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from tasks.records import PublishedModel, TrainedSegment


@dataclass
class Deployment:
    """What the deploy stage did: the router and endpoint, or why it failed (or was skipped)."""

    router: PublishedModel | None = None
    endpoint: dict | None = None
    error: str | None = None


@dataclass
class Publication:
    """Every segment's published champion (from its training task or the publish stage), and the
    segments whose publishing failed, with the reason."""

    by_segment: dict[str, PublishedModel] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def any_promoted(self) -> bool:
        return any(p.promoted for p in self.by_segment.values())


def failure_row(segment: str, stage: str, reason: str) -> dict:
    return {"segment": segment, "status": "failed", "stage": stage, "reason": reason}


def skipped_row(segment: str, reason: str) -> dict:
    """A segment a policy leaves out on purpose (``--stale skip``): reported, never counted as failed."""
    return {"segment": segment, "status": "skipped", "stage": "validation", "reason": reason}


def run_url(tracking_uri: str, experiment_id: str | None, run_id: str | None) -> str | None:
    """The MLflow UI page of a run, when the tracking store is a server."""
    if not run_id or not experiment_id or not tracking_uri.startswith("http"):
        return None
    return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def segment_row(result: TrainedSegment, published: PublishedModel | None, endpoint: dict | None, flow_run_id: str,
                url: str | None, metric: str) -> dict:
    """One trained (or failed-in-training) segment as the report shows it: ``cached`` when an earlier
    flow run computed it, ``failed`` at stage ``smoke test`` when its champion was not promoted."""
    row = {
        "segment": result.segment,
        "status": result.status,
        "stage": "training" if result.status == "failed" else "",
        "reason": result.reason,
        "champion": result.champion,
        "metric": metric,
        "metric_value": result.metrics.get(metric),
        "baseline_value": result.baseline.get(metric),
        "metrics": result.metrics,
        "holdout": result.holdout,
        "low_confidence": result.low_confidence,
        "why": result.why,
        "mlflow_run_id": result.run_id,
        "run_url": url,
        "registered_model": None,
        "version": None,
        "endpoint": endpoint.get("url") if endpoint else None,
        "fit_cpu_seconds": round(result.fit_cpu_seconds, 4),
        "tracking_seconds": round(result.tracking_seconds, 4),
        "explain_seconds": round(result.explain_seconds, 4),  # components and the bridge (part of train_seconds)
        "bridge": result.bridge,  # from last year (forecasting.explain.bridge.Bridge.as_record, with the frequency); None: not explained
        # register + smoke test + promote inside the training task (0 when the publish stage did it)
        "publish_seconds": round(published.seconds, 4) if published is not None and published is result.published else 0.0,
        "train_seconds": round(result.seconds, 4),
        "process_id": result.process_id,  # where it trained: a worker process, on this machine or a Dask worker's
        "host": result.host,
        # what selection did instead of the first-ranked candidate, a reused run: never silently
        "notes": list(result.notes) if result.status == "trained" else [],
    }
    if result.status == "trained" and result.computed_in and result.computed_in != flow_run_id:
        row["status"] = "cached"
    if published is not None:
        row["registered_model"], row["version"] = published.name, published.version
        if not published.promoted:
            row.update(status="failed", stage="smoke test", reason=published.smoke)
    return row


def report_rows(failures: dict[str, dict], trained: dict[str, TrainedSegment], publication: Publication,
                endpoint: dict | None, flow_run_id: str, urls: dict[str, str | None], metric: str) -> list[dict]:
    """Every segment of the run in segment-key order: validation and training failures, then what each
    trained segment became (published, cached, failed at publish or smoke test)."""
    rows = dict(failures)
    for key, result in trained.items():
        rows[key] = segment_row(result, publication.by_segment.get(key), endpoint, flow_run_id, urls.get(key), metric)
        if key in publication.errors:
            rows[key].update(status="failed", stage="publish", reason=publication.errors[key])
    return [rows[key] for key in sorted(rows)]


def failed_fraction(rows: list[dict]) -> float:
    return sum(r["status"] == "failed" for r in rows) / max(len(rows), 1)


def verdict(rows: list[dict], deployment: Deployment, max_failed_fraction: float) -> str | None:
    """Why the run fails (a failed deploy first, then too many failed segments), or None when it passes."""
    if deployment.error:
        return f"champions are registered and promoted, but deployment failed: {deployment.error}"
    share = failed_fraction(rows)
    if share > max_failed_fraction:
        failed = [r for r in rows if r["status"] == "failed"]
        return (f"{len(failed)} of {len(rows)} segments failed ({share:.0%} > max_failed_fraction {max_failed_fraction:.0%}): "
                + "; ".join(f"{r['segment']}: {r['reason']}" for r in failed[:3]))
    return None


def run_result(rows: list[dict], deployment: Deployment, parent_run_id: str, stage_seconds: dict[str, float]) -> dict:
    """The dictionary the flow returns (and the CLI writes with ``--report``)."""
    return {"segments": rows, "router": deployment.router.__dict__ if deployment.router else None, "endpoint": deployment.endpoint,
            "deploy_error": deployment.error, "mlflow_parent_run_id": parent_run_id, "failed_fraction": failed_fraction(rows),
            "stage_seconds": stage_seconds}
