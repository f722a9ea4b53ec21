"""Where the wall time of a training run goes, split into measured parts (issue: the deployment run's
"orchestration" share, until now everything but model fits and MLflow, unexplained).

From the Prefect API (the flow run's states, its `train-segments` subflow and every task run's start and
end) and the run report (each segment's model CPU, tracking and publishing seconds, the stage clock):

- ``flow_startup``: from the worker picking the run up (PENDING) to the flow running (RUNNING): the
  flow process starting, importing, loading parameters;
- ``stages_outside_training``: validation, opening the MLflow run, publishing, reporting (stage clock);
- inside the training stage, per worker slot (``cores`` slots over the stage's wall):
  - ``worker_startup``: from the stage's start to the first task run starting (worker processes
    started and the task's modules imported),
  - ``between_tasks``: gaps between one task run's end and the next one's start (submission,
    scheduling, the parent collecting results),
  - ``tail_idle``: from a slot's last task run ending to the stage's end (the longest segments finishing
    on the other cores),
  - inside the task runs (the global model's fits, a first pass of backtests, the train chunks):
    ``model`` (global fits, backtest, selection, refit CPU), ``tracking`` (MLflow logging and
    publishing) and ``task_overhead`` (the rest of each task run: its state writes, cache-key and
    result persistence, imports on a worker's first task, whatever the task does around the work);
- result persistence is measured apart (:func:`result_persistence`): the result files the run wrote,
  their size, and the seconds to write them again here (inside ``task_overhead``).

Every part is in seconds of wall time of the whole run (the slot parts divided by the slots), so they
add up to the run's wall. Used by ``benchmarks.throughput`` for the deployment runs.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path


def split(flow_run_id, report: dict, wall: float, cores: int) -> dict:
    """The run's wall seconds split into measured parts (see the module docstring)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )

    with get_client(sync_client=True) as client:
        states = client.read_flow_run_states(flow_run_id)
        children = client.read_flow_runs(flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])))
        subflows = [run for run in children if run.name and run.flow_id and _flow_name(client, run.flow_id) == "train-segments"]
        task_runs = client.read_task_runs(task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[r.id for r in subflows]))) if subflows else []
    pending = min(s.timestamp for s in states if s.type.value == "PENDING")
    running = min(s.timestamp for s in states if s.type.value == "RUNNING")
    stages = report.get("stage_seconds", {})
    train_wall = stages.get("train", 0.0)
    rows = report["segments"]
    model = sum(r.get("fit_cpu_seconds", 0.0) for r in rows)
    tracking = sum(r.get("tracking_seconds", 0.0) + r.get("publish_seconds", 0.0) for r in rows)
    # every task run of the training subflow: the global fits, a first pass of backtests, the train chunks
    spans = sorted((t.start_time, t.end_time) for t in task_runs if t.start_time and t.end_time)
    slots = _slots(spans, cores)
    stage_start = subflows[0].start_time if subflows and subflows[0].start_time else (spans[0][0] if spans else None)
    stage_end = subflows[0].end_time if subflows and subflows[0].end_time else (spans[-1][1] if spans else None)
    head = between = tail = 0.0
    for slot in slots:
        if not slot or stage_start is None:
            continue
        head += (slot[0][0] - stage_start).total_seconds()
        between += sum((b[0] - a[1]).total_seconds() for a, b in zip(slot, slot[1:]))
        tail += (stage_end - slot[-1][1]).total_seconds()
    idle_slots = cores - len([s for s in slots if s])
    if stage_start is not None and idle_slots > 0:  # fewer task runs than cores
        tail += idle_slots * (stage_end - stage_start).total_seconds()
    in_tasks = sum((end - start).total_seconds() for start, end in spans)
    parts = {
        "flow_startup": (running - pending).total_seconds(),
        "stages_outside_training": sum(v for k, v in stages.items() if k != "train"),
        "worker_startup": head / cores,
        "between_tasks": between / cores,
        "tail_idle": tail / cores,
        "model": model / cores,
        "tracking": tracking / cores,
        "task_overhead": max(in_tasks - model - tracking, 0.0) / cores,
    }
    parts["unaccounted"] = wall - sum(parts.values())
    parts["subflow_outside_tasks"] = max(train_wall - (stage_end - stage_start).total_seconds(), 0.0) if stage_start else 0.0
    parts["task_runs"] = len(spans)
    return parts


def _flow_name(client, flow_id) -> str:
    return client.read_flow(flow_id).name


def _slots(spans: list, cores: int) -> list[list]:
    """Task runs assigned to ``cores`` worker slots the way a pool runs them: each starts on the slot
    that became free first (a slot is a worker process of the pool)."""
    slots: list[list] = [[] for _ in range(cores)]
    for start, end in spans:
        free = min(range(cores), key=lambda i: slots[i][-1][1] if slots[i] else start.replace(year=1))
        slots[free].append((start, end))
    return slots


def result_persistence(result_dir: Path, repeats: int = 5) -> dict:
    """What persisting the run's task results cost: how many result files Prefect wrote and their size,
    and the seconds to write them again (each file's bytes written and flushed to a new file, as the
    local result storage does), measured here."""
    files = [p for p in Path(result_dir).rglob("*") if p.is_file()] if Path(result_dir).exists() else []
    if not files:
        return {"result_files": 0, "result_mb": 0.0, "result_write_seconds": 0.0}
    sizes = [p.stat().st_size for p in files]
    sample = max(files, key=lambda p: p.stat().st_size).read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        for i in range(repeats):
            with open(Path(tmp, f"r{i}"), "wb") as handle:
                handle.write(sample)
                handle.flush()
        per_byte = (time.perf_counter() - started) / (repeats * max(len(sample), 1))
    return {"result_files": len(files), "result_mb": sum(sizes) / 1e6, "result_write_seconds": per_byte * sum(sizes)}
