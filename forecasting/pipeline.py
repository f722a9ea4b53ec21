"""The forecast path without any MLOps: validate every segment, backtest, select, refit, forecast."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field

from forecasting.backtest import BacktestSpec, SegmentBacktest
from forecasting.contract import DataSpec
from forecasting.errors import ForecastingError
from forecasting.backtest import run_backtest
from forecasting.explain.forecastability import Forecastability, assess
from forecasting.fingerprint import prepared_fingerprint, segment_fingerprint
from forecasting.global_fit import GlobalFit, SegmentGlobal, fit_global, require_global
from forecasting.learned_combination import learn_and_reweight
from forecasting.models import ModelSpec
from forecasting.pooled_calibration import MIN_OTHER_SEGMENTS, attach_pools
from forecasting.selection import Selection, run_segment, select_and_refit
from forecasting.system.pool import Progress, ordered_map
from forecasting.validation import (
    PreparedSegment,
    SegmentReport,
    ValidationPolicy,
    ValidationReport,
    validate,
)


class ForecastJob(BaseModel):
    """Everything one forecasting run needs, one model per concern."""

    data: DataSpec = Field(default_factory=DataSpec)
    validation: ValidationPolicy = Field(default_factory=ValidationPolicy)
    models: ModelSpec = Field(default_factory=ModelSpec)
    backtest: BacktestSpec = Field(default_factory=BacktestSpec)


@dataclass
class SegmentOutcome:
    segment: str
    values: dict
    status: Literal["trained", "failed", "skipped"]
    report: SegmentReport
    reason: str = ""
    backtest: SegmentBacktest | None = None
    selection: Selection | None = None
    seconds: float = 0.0
    forecastability: Forecastability | None = None  # measured on the history (trained segments)
    explanation: object | None = None  # forecasting.explain.segment.Explanation, when asked for
    explain_seconds: float = 0.0  # wall time of the explanation (components, the actuals' split, the bridge)
    fingerprint: str = ""  # the segment's data as trained on (forecasting.fingerprint.segment_fingerprint)
    backtest_cpu_seconds: float = 0.0  # CPU of a first-pass backtest made in another process (a run with stages across segments)


@dataclass
class ForecastRun:
    outcomes: dict[str, SegmentOutcome] = field(default_factory=dict)
    report: ValidationReport | None = None  # the whole table's validation (its notes and last date)
    data_fingerprint: str = ""  # of the validated segments (forecasting.fingerprint.prepared_fingerprint)
    global_fit: GlobalFit | None = None  # the global model's fits (reported beside the segments, not as one)

    @property
    def trained(self) -> list[SegmentOutcome]:
        return [o for o in self.outcomes.values() if o.status == "trained"]

    @property
    def failed(self) -> list[SegmentOutcome]:
        return [o for o in self.outcomes.values() if o.status == "failed"]

    @property
    def skipped(self) -> list[SegmentOutcome]:
        return [o for o in self.outcomes.values() if o.status == "skipped"]


def prepare(frame: pd.DataFrame, job: ForecastJob):
    """Validate the table: the report for every segment and the segments that can be trained."""
    return validate(
        frame,
        job.data,
        job.validation,
        horizon=job.backtest.horizon,
        folds=job.backtest.folds,
        log_transform=job.models.transform == "log",
        holidays_country=job.models.holidays_country,
    )


def train_segment(segment: PreparedSegment, report: SegmentReport, job: ForecastJob, explain: bool = False,
                  cross: SegmentGlobal | None = None) -> SegmentOutcome:
    """Backtest, select and refit one validated segment; a failure is returned with its reason. The
    segment's forecastability is measured; with ``explain`` its champion's forecast is also split into
    components with a bridge from last year (a failure to explain is a note, not a failed segment).
    ``cross``: the segment's share of the run's global fits (:func:`forecasting.global_fit.fit_global`)."""
    started = time.perf_counter()
    try:
        backtest, selection = run_segment(segment, job.models, job.backtest, cross)
    except ForecastingError as exc:
        return SegmentOutcome(segment.key, segment.values, "failed", report, str(exc), seconds=time.perf_counter() - started)
    outcome = SegmentOutcome(segment.key, segment.values, "trained", report, "", backtest, selection, time.perf_counter() - started)
    return _described(outcome, segment, explain)


def backtest_segment(segment: PreparedSegment, report: SegmentReport, job: ForecastJob, cross: SegmentGlobal | None = None) -> SegmentOutcome:
    """The first half of :func:`train_segment`: the backtest alone (``selection`` None), or the failure."""
    started = time.perf_counter()
    try:
        backtest = run_backtest(segment, job.models, job.backtest, cross)
    except ForecastingError as exc:
        return SegmentOutcome(segment.key, segment.values, "failed", report, str(exc), seconds=time.perf_counter() - started)
    return SegmentOutcome(segment.key, segment.values, "trained", report, "", backtest, None, time.perf_counter() - started)


def select_segment(segment: PreparedSegment, outcome: SegmentOutcome, job: ForecastJob, explain: bool = False) -> SegmentOutcome:
    """The second half: select and refit from the outcome's backtest (a failed outcome passes through)."""
    if outcome.status != "trained":
        return outcome
    started = time.perf_counter()
    try:
        outcome.selection = select_and_refit(segment, outcome.backtest, job.models)
    except ForecastingError as exc:
        outcome.status, outcome.reason, outcome.backtest = "failed", str(exc), None
        return outcome
    outcome.seconds += time.perf_counter() - started
    return _described(outcome, segment, explain)


def _described(outcome: SegmentOutcome, segment: PreparedSegment, explain: bool) -> SegmentOutcome:
    """A trained outcome with its forecastability, fingerprint and (``explain``) explanation."""
    outcome.forecastability = assess(segment.history["y"].to_numpy(float), outcome.backtest.season, segment.frequency)
    outcome.fingerprint = segment_fingerprint(segment.history, segment.future)
    if explain:
        explain_started = time.perf_counter()
        outcome.explanation = _explain(segment, outcome.selection)
        outcome.explain_seconds = time.perf_counter() - explain_started
        outcome.seconds += outcome.explain_seconds
    return outcome


def _explain(segment: PreparedSegment, selection: Selection):
    from forecasting.backtest import fit_window
    from forecasting.explain.segment import explain_segment

    try:
        return explain_segment(selection.champion_model, fit_window(segment, len(segment.history)), segment.future, selection.forecast,
                               segment.frequency)
    except Exception as exc:  # the forecast stands; its explanation is missing, and says why
        selection.notes.append(f"no components for {selection.champion}: {type(exc).__name__}: {exc}")
        return None


def run_forecast(frame: pd.DataFrame, job: ForecastJob, workers: int = 1, progress: Progress | None = None,
                 explain: bool = False) -> ForecastRun:
    """Validate, backtest, select and forecast every segment of ``frame`` (no MLOps).

    Args:
        frame: the long table as read.
        job: data contract, validation policy, model set and backtest.
        workers: segments trained at once, in worker processes (1: one after the other, in this
            process); the results are the same either way. No ``if __name__ == "__main__":`` guard
            is needed (the workers never import the caller's main module): a script, standard input,
            ``python -c`` and notebooks all work. The workers are stopped before this returns.
        progress: called with (segments done, segments to train) as segments finish.
        explain: also split each champion's forecast into components, with a bridge from last year.

    Returns:
        One outcome per segment in segment-key order: ``trained`` (backtest and selection) or
        ``failed`` with the reason; a failing segment never stops the others.
    """
    report, prepared = prepare(frame, job)
    job = job.model_copy(update={"models": require_global(job.models, list(prepared.values()))})
    # the global model is fitted across segments, before the per-segment map, once per fold and once on all history
    shared = fit_global(list(prepared.values()), job.models) if "global" in job.models.models else GlobalFit()
    todo = [(prepared[key], seg_report, shared.segments.get(key)) for key, seg_report in report.segments.items() if key in prepared]
    learn = bool(shared.fits) and "ensemble" in job.models.models
    pool = job.models.calibration != "own" and len(todo) > MIN_OTHER_SEGMENTS
    if learn or pool:
        # stages across segments between the backtests and the selection: the global model's weight in
        # the ensemble, learned on every segment's backtest, and the pooled interval calibration
        halves = _halves(progress, len(todo))
        backtested = ordered_map(partial(_backtest_item, job=job), todo, workers, halves[0], cost=lambda item: segment_cost(item[0]))
        pairs = [(prepared[o.segment], o.backtest) for o in backtested if o.status == "trained"]
        if learn:
            learn_and_reweight(pairs)
        attach_pools(pairs, job.models.calibration, job.models.level)
        items = [(prepared[o.segment], o) for o in backtested]
        trained = ordered_map(partial(_select_item, job=job, explain=explain), items, workers, halves[1], cost=lambda item: segment_cost(item[0]))
    else:
        trained = ordered_map(partial(_train_pair, job=job, explain=explain), todo, workers, progress, cost=lambda item: segment_cost(item[0]))
    outcomes = {outcome.segment: outcome for outcome in trained}
    run = ForecastRun(data_fingerprint=prepared_fingerprint(prepared))
    for key, seg_report in report.segments.items():
        if key in outcomes:
            run.outcomes[key] = outcomes[key]
        elif seg_report.ok and seg_report.skipped:
            run.outcomes[key] = SegmentOutcome(key, {}, "skipped", seg_report, seg_report.skipped)
        else:
            reason = "; ".join(f.message for f in seg_report.errors)
            run.outcomes[key] = SegmentOutcome(key, {}, "failed", seg_report, reason)
    run.report = report
    run.global_fit = shared
    return run


def segment_cost(segment: PreparedSegment) -> int:
    """An estimate of a segment's training work, for scheduling the costliest first: its history's
    length (every family's fit grows with it)."""
    return len(segment.history)


def key_column(segment_cols: list[str]) -> str:
    """Name of the segment-key column of output tables: ``segment``, or ``segment_key`` when a segment
    column of the data is itself called ``segment``."""
    return "segment_key" if "segment" in segment_cols else "segment"


def _halves(progress: Progress | None, total: int):
    """Progress over two passes: (done, 2 x total) for the first, (total + done, 2 x total) for the second."""
    if progress is None:
        return None, None
    return (lambda done, _: progress(done, 2 * total)), (lambda done, _: progress(total + done, 2 * total))


def _backtest_item(item, job: ForecastJob) -> SegmentOutcome:
    segment, report, cross = item
    return backtest_segment(segment, report, job, cross)


def _select_item(item, job: ForecastJob, explain: bool = False) -> SegmentOutcome:
    segment, outcome = item
    return select_segment(segment, outcome, job, explain)


def _train_pair(item: tuple[PreparedSegment, SegmentReport, SegmentGlobal | None], job: ForecastJob, explain: bool = False) -> SegmentOutcome:
    segment, report, cross = item
    return train_segment(segment, report, job, explain, cross)


def forecast_frame(run: ForecastRun, segment_cols: list[str], components: bool = False) -> pd.DataFrame:
    """One long table: segment columns, ds, yhat, yhat_lower, yhat_upper, model, the segment key
    (column ``segment``, or ``segment_key`` when a segment column has that name) and ``low_confidence``
    (why the segment's forecast rests on thin evidence; empty when it does not). With ``all_models``
    every candidate's rows follow its segment's champion rows, and a ``champion`` column tells them apart.
    With ``components`` (a run with ``explain``) the champion's additive components follow as
    ``component_*`` columns that add up to ``yhat`` (a component a family does not have is 0; rows of
    other candidates and segments that could not be explained have none)."""
    key = key_column(segment_cols)
    every = any(o.selection.candidate_forecasts for o in run.trained)
    frames = []
    for outcome in run.trained:
        selection = outcome.selection
        labels = {**{col: outcome.values[col] for col in segment_cols}, key: outcome.segment, "low_confidence": selection.low_confidence}
        frames.append(selection.forecast.assign(**labels, model=selection.champion, champion=True))
        for name, forecast in selection.candidate_forecasts.items():  # with all_models: every other candidate after it
            if name != selection.champion:
                frames.append(forecast.assign(**labels, model=name, champion=False))
    columns = [*segment_cols, "ds", "yhat", "yhat_lower", "yhat_upper", "model", key, "low_confidence", *(["champion"] if every else [])]
    table = pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
    return with_components(table, run, key) if components else table


def with_components(table: pd.DataFrame, run: ForecastRun, key: str) -> pd.DataFrame:
    """``table`` with each champion's ``component_*`` columns (trend, season, holidays, covariates,
    remainder, adjustment: the order :func:`forecasting.explain.components.ordered` takes them in)."""
    from forecasting.explain.components import PREFIX

    parts = [o.explanation.components.frame.assign(**{key: o.segment, "model": o.selection.champion})
             for o in run.trained if o.explanation is not None]
    if not parts:
        return table
    found = list(dict.fromkeys(c for part in parts for c in part.columns if c.startswith(PREFIX)))
    tail = [PREFIX + name for name in ("remainder", "adjustment", "reconciliation")]
    columns = [c for c in found if c not in tail] + [c for c in tail if c in found]
    frame = pd.concat([part.reindex(columns=["ds", key, "model", *columns]).fillna({c: 0.0 for c in columns}) for part in parts], ignore_index=True)
    frame["ds"] = pd.to_datetime(frame["ds"])
    out = table.assign(ds=pd.to_datetime(table["ds"])).merge(frame, on=["ds", key, "model"], how="left")
    if "champion" in out.columns:  # with all_models only the champion rows are explained
        out.loc[~out["champion"].astype(bool), columns] = float("nan")
    out["ds"] = table["ds"].to_numpy()
    return out


def leaderboard_frame(run: ForecastRun, segment_cols: list[str] | None = None) -> pd.DataFrame:
    """Every segment's leaderboard in one table (key column first), with the segment's low-confidence
    reason on its rows (empty when the backtest is solid), why the champion won on its row, the
    segment's row accounting (rows read, used, dropped, merged, values changed), its forecastability
    (grade, measured features, a note for weak segments) and, when explained, how the champion's
    components were obtained (``decomposition``, on its row)."""
    from forecasting.reporting import accounting_columns

    key = key_column(segment_cols or [])
    frames = [o.selection.leaderboard.assign(**{key: o.segment}, low_confidence=o.selection.low_confidence,
                                             why=o.selection.leaderboard["champion"].map({True: o.selection.why, False: ""}),
                                             **accounting_columns(o.report.accounting), **_explained_columns(o))
              for o in run.trained]
    if not frames:
        return pd.DataFrame()
    # records, not concat: a segment whose metric column is all empty (no seasonal baseline) is no reason for a dtype warning
    board = pd.DataFrame([row for frame in frames for row in frame.to_dict("records")])
    return board[[key, *[c for c in board.columns if c != key]]]


def _explained_columns(outcome: SegmentOutcome) -> dict:
    columns = outcome.forecastability.as_columns() if outcome.forecastability is not None else {}
    if outcome.explanation is not None:
        champion = outcome.selection.leaderboard["champion"]
        columns["decomposition"] = champion.map({True: outcome.explanation.components.decomposition, False: ""})
    return columns
