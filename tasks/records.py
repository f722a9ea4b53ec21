"""What the training tasks hand to the rest of the flow: a trained segment and its published model.
Plain records (no Prefect, no MLflow objects), persisted as task results."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PublishedModel:
    segment: str
    name: str
    version: str | None
    promoted: bool
    reused: bool = False
    previous_champion: str | None = None
    smoke: str = ""
    load_seconds: float = 0.0
    predict_seconds: float = 0.0
    seconds: float = 0.0  # wall time of register + smoke test + promote


@dataclass
class TrainedSegment:
    """What the rest of the flow (and the report) needs from a trained segment; the model itself
    lives in MLflow."""

    segment: str
    values: dict
    status: str  # trained | failed
    reason: str = ""
    champion: str | None = None
    metric: str = "mase"
    metrics: dict = field(default_factory=dict)
    baseline: dict = field(default_factory=dict)
    holdout: dict = field(default_factory=dict)
    leaderboard: list[dict] = field(default_factory=list)
    forecast: list[dict] = field(default_factory=list)  # the champion's forecast from all history
    runner_up: str | None = None  # the next-ranked candidate and its forecast, for charts
    runner_up_forecast: list[dict] = field(default_factory=list)
    history_tail: list[dict] = field(default_factory=list)  # ds, y of the last periods, for charts
    # the bridge from last year (forecasting.explain.bridge.Bridge.as_record, with the segment's frequency);
    # None when the champion could not be explained (a note says why)
    bridge: dict | None = None
    low_confidence: str = ""  # why the champion rests on thin evidence (empty: it does not)
    why: str = ""  # why this champion won, with the backtest evidence (forecasting.evidence.champion_reason)
    process_id: int = 0  # the process that trained it (a worker of the process runner, or the flow's own)
    host: str = ""  # the machine that process ran on (a Dask worker's)
    notes: list[str] = field(default_factory=list)
    run_id: str | None = None
    model_uri: str | None = None
    fit_cpu_seconds: float = 0.0  # CPU of backtest + selection + refit (pure model work)
    tracking_seconds: float = 0.0  # wall time logging the segment to MLflow
    explain_seconds: float = 0.0  # wall time splitting the champion's forecast into components, with the bridge
    published: PublishedModel | None = None  # None: not published by this task (the flow's publish stage does it)
    seconds: float = 0.0
    computed_in: str | None = None
    fingerprint: str = ""
    training_key: str = ""  # segment, data, configuration and code: what registration is idempotent on
    # a hierarchy run: (forecasting.pipeline.SegmentOutcome, the champion's own-interval forecast) for the
    # reconcile stage, dropped once it has reconciled
    outcome: object | None = None
