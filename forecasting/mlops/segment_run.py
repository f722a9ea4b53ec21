"""What a segment's MLflow child run holds: candidates' backtest metrics and chosen hyper-parameters,
the leaderboard, backtest forecasts vs actuals, the validation report, a forecast plot, the champion."""

from __future__ import annotations

import mlflow

from forecasting.backtest import SegmentBacktest
from forecasting.metrics import METRICS
from forecasting.mlops.config import TrackingConfig
from forecasting.mlops.pyfunc import log_forecaster
from forecasting.mlops.tracking import (
    SegmentRun,
    connect,
    finite_metrics,
    flat_params,
    log_tables,
    reaching,
    start_segment_run,
)
from forecasting.plots import close, forecast_figure
from forecasting.selection import Selection
from forecasting.validation import PreparedSegment, SegmentReport


def record_segment(
    config: TrackingConfig,
    parent_run_id: str,
    segment: PreparedSegment,
    report: SegmentReport,
    backtest: SegmentBacktest,
    selection: Selection,
    horizon: int,
    tags: dict[str, str] | None = None,
) -> SegmentRun:
    """Log one trained segment as a child run and its champion as a pyfunc model."""
    with reaching(config):
        return _record(config, parent_run_id, segment, report, backtest, selection, horizon, tags)


def _record(config, parent_run_id, segment, report, backtest, selection, horizon, tags) -> SegmentRun:
    client = connect(config)
    run_id = start_segment_run(config, parent_run_id, segment.key, {"champion": selection.champion, **(tags or {})})
    try:
        model_uri = _fill_segment_run(client, run_id, segment, report, backtest, selection, horizon)
    except Exception:
        try:  # leave no RUNNING orphan behind; the caller retries with a fresh child run
            client.set_terminated(run_id, status="FAILED")
        except Exception:
            pass
        raise
    client.set_terminated(run_id)
    return SegmentRun(run_id=run_id, model_uri=model_uri)


def _fill_segment_run(client, run_id, segment, report, backtest, selection, horizon) -> str:
    board = selection.leaderboard
    metrics: dict[str, float | None] = {}
    for row in board.to_dict("records"):
        for name in METRICS:
            metrics[f"{row['model']}.{name}"] = row[name]
    for name, value in selection.champion_metrics.items():
        metrics[f"champion.{name}"] = value
    for key, value in selection.holdout.items():
        if key not in ("model", "fold"):
            metrics[f"holdout.{key}"] = value
    # The champion's metrics go first: MLflow copies the run's metrics onto the logged model one history
    # read each (~20 ms apiece); every candidate's metrics are logged after the model.
    finite = finite_metrics(metrics)
    client.log_batch(run_id, metrics=[_metric(k, v) for k, v in finite.items() if k.startswith("champion.")])
    params = {"champion": selection.champion, "selection_metric": selection.metric, "frequency": segment.frequency, "folds": str(segment.folds)}
    for candidate in backtest.candidates.values():
        params.update(flat_params(candidate.name, candidate.params))
    client.log_batch(run_id, params=[mlflow.entities.Param(k, str(v)) for k, v in params.items()])
    forecasts = backtest.forecasts_frame()
    last_fold = forecasts[(forecasts["model"] == selection.champion) & (forecasts["fold"] == forecasts["fold"].max())]
    figure = forecast_figure(segment.key, segment.history, last_fold, selection.forecast, selection.champion,
                             runner_up=selection.runner_up, runner_up_forecast=selection.runner_up_forecast)
    try:
        log_tables(
            client,
            run_id,
            {
                "leaderboard": board,
                "backtest_forecasts": forecasts,
                "forecast": selection.forecast,
                "validation_report": report.model_dump(),
                "holdout": selection.holdout,
            },
            {"forecast": figure},
        )
    finally:
        close(figure)
    with mlflow.start_run(run_id=run_id):
        info = log_forecaster(selection.champion_model, segment.key, segment.future, horizon, forecast=selection.forecast)
    client.log_batch(run_id, metrics=[_metric(k, v) for k, v in finite.items() if not k.startswith("champion.")])
    return info.model_uri


def _metric(key: str, value: float):
    import time

    return mlflow.entities.Metric(key, value, int(time.time() * 1000), 0)
