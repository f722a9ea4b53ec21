"""What a segment's MLflow child run holds: candidates' backtest metrics and chosen hyper-parameters,
the leaderboard, backtest forecasts vs actuals, the validation report, a forecast plot, the champion,
and its explanation: the components of its forecast, the bridge from last year and its waterfall.

Logged in few calls, because a training run makes one of these per segment: the child run with its
tags; one batch of params; one bundle of tables (and the plot); the model; one batch of metrics (the
champion's also on the model), and the run ends."""

from __future__ import annotations

import time

import mlflow
import pandas as pd

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
from forecasting.plots import close, forecast_figure, waterfall_figure
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
    explanation=None,
) -> SegmentRun:
    """Log one trained segment as a child run and its champion as a pyfunc model; with an
    ``explanation`` (:class:`forecasting.explain.segment.Explanation`) also ``components.csv`` and
    ``bridge.csv``. The forecast plot and the bridge's waterfall are drawn unless
    ``config.forecast_plot`` is ``never`` (decide ``auto`` with ``config.for_run``)."""
    with reaching(config):
        return _record(config, parent_run_id, segment, report, backtest, selection, horizon, tags, explanation)


def _record(config, parent_run_id, segment, report, backtest, selection, horizon, tags, explanation=None) -> SegmentRun:
    client = connect(config)
    run_id = start_segment_run(config, parent_run_id, segment.key, {"champion": selection.champion, **(tags or {})})
    try:
        model_uri = _fill_segment_run(client, run_id, segment, report, backtest, selection, horizon, config.forecast_plot != "never",
                                      explanation)
    except Exception:
        try:  # leave no RUNNING orphan behind; the caller retries with a fresh child run
            client.set_terminated(run_id, status="FAILED")
        except Exception:
            pass
        raise
    return SegmentRun(run_id=run_id, model_uri=model_uri)


def _fill_segment_run(client, run_id, segment, report, backtest, selection, horizon, plot: bool, explanation=None) -> str:
    params = segment_params(segment, backtest, selection)
    client.log_batch(run_id, params=[mlflow.entities.Param(k, str(v)) for k, v in params.items()])
    _log_bundle(client, run_id, segment, report, backtest, selection, plot, explanation)
    with mlflow.start_run(run_id=run_id):  # the logged model belongs to the run's experiment; leaving ends the run
        info = log_forecaster(selection.champion_model, segment.key, segment.future, horizon, forecast=selection.forecast)
        # Metrics after the model, the champion's attached to it: logged before, MLflow would copy each
        # onto the model with one history read apiece (~20 ms each).
        metrics = finite_metrics(segment_metrics(selection))
        client.log_batch(run_id, metrics=_metrics(metrics, champion_model=info.model_id))
    return info.model_uri


def segment_metrics(selection: Selection) -> dict[str, float | None]:
    """``<family>.<metric>`` for every candidate, ``champion.<metric>``, ``holdout.<metric>``."""
    metrics: dict[str, float | None] = {}
    for row in selection.leaderboard.to_dict("records"):
        for name in METRICS:
            metrics[f"{row['model']}.{name}"] = row[name]
    for name, value in selection.champion_metrics.items():
        metrics[f"champion.{name}"] = value
    for key, value in selection.holdout.items():
        if key not in ("model", "fold"):
            metrics[f"holdout.{key}"] = value
    return metrics


def segment_params(segment: PreparedSegment, backtest: SegmentBacktest, selection: Selection) -> dict[str, str]:
    """The champion, how it was chosen, and every candidate's chosen hyper-parameters."""
    params = {"champion": selection.champion, "selection_metric": selection.metric, "frequency": segment.frequency, "folds": str(segment.folds)}
    for candidate in backtest.candidates.values():
        params.update(flat_params(candidate.name, candidate.params))
    return params


def _log_bundle(client, run_id, segment, report, backtest, selection, plot: bool, explanation=None) -> None:
    """The tables (and the plots) written once and logged in one call."""
    forecasts = backtest.forecasts_frame()
    tables = {"leaderboard": selection.leaderboard, "backtest_forecasts": forecasts, "forecast": selection.forecast,
              "validation": report.model_dump(), "holdout": selection.holdout}
    if selection.candidate_forecasts:  # models.all_models: every candidate's forecast of the horizon, one table
        tables["candidate_forecasts"] = pd.concat([f.assign(model=name, champion=name == selection.champion)
                                                   for name, f in selection.candidate_forecasts.items()], ignore_index=True)
    if explanation is not None:
        tables["components"] = explanation.components.frame
        tables["bridge"] = bridge_table(explanation.bridge)
    figures = {}
    try:
        if plot:
            last_fold = forecasts[(forecasts["model"] == selection.champion) & (forecasts["fold"] == forecasts["fold"].max())]
            figures["forecast"] = forecast_figure(segment.key, segment.history, last_fold, selection.forecast, selection.champion,
                                                  runner_up=selection.runner_up, runner_up_forecast=selection.runner_up_forecast)
            if explanation is not None and explanation.bridge.available:
                figures["waterfall"] = waterfall_figure(segment.key, explanation.bridge.table, explanation.bridge.window)
        log_tables(client, run_id, tables, figures)
    finally:
        for figure in figures.values():
            close(figure)


def bridge_table(bridge) -> pd.DataFrame:
    """The bridge's steps with the forecast periods it covers on every row (the CSV stands alone)."""
    return bridge.table.assign(first=bridge.first, last=bridge.last, periods=bridge.periods, horizon=bridge.horizon, note=bridge.note)


def _metrics(values: dict[str, float], champion_model: str | None = None) -> list:
    now = int(time.time() * 1000)
    return [mlflow.entities.Metric(key, value, now, 0, model_id=champion_model if key.startswith("champion.") else None)
            for key, value in values.items()]
