"""The global family across a run's segments: one fit per backtest fold and one final fit, each a pure
function of all segments' validated frames, run before the per-segment backtests, which read the fold
forecasts and the final member from it.

Honesty: fold position ``j`` (1 = each segment's last fold, 2 = the one before, ...) is fitted on every
segment that has such a fold, each up to **its own** cutoff for that fold (``n - j x window``, its
training window as its own families see it: refilled and clipped from that window alone), never after.
Segments ending on different dates keep their own cutoffs. The final fit sees every segment's full
history, as every family's final refit does. One model per frequency: segments of another frequency
(or a frequency with a single segment) get no global forecast and the candidate fails with the reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

from forecasting.backtest import fit_window, series_context
from forecasting.errors import ConfigError
from forecasting.frequency import season_length
from forecasting.models import ModelSpec
from forecasting.models.global_model import MIN_SEGMENTS, GlobalMember, GlobalModel, step_sigma
from forecasting.preprocess import fold_test
from forecasting.validation import PreparedSegment


@dataclass
class SegmentGlobal:
    """What one segment's backtest and refit receive from the global stage."""

    folds: list[pd.DataFrame | None] = field(default_factory=list)  # per fold, oldest first: ds, yhat, yhat_lower, yhat_upper
    member: GlobalMember | None = None  # the final fit's member for the refit (None: the final fit failed)
    reason: str = ""  # why a fold or the final fit has no forecast
    fit_seconds: float = 0.0  # this segment's share of the global fits' CPU time


@dataclass
class GlobalFitRecord:
    """One fit of the global model: which frequency, which fold position (0: the final fit), on what."""

    frequency: str
    position: int
    segments: int
    trained_through: dict[str, pd.Timestamp]
    seconds: float
    error: str = ""


@dataclass
class GlobalFit:
    """The global stage's outcome: the final model per frequency, each segment's share, every fit made."""

    models: dict[str, GlobalModel] = field(default_factory=dict)
    segments: dict[str, SegmentGlobal] = field(default_factory=dict)
    fits: list[GlobalFitRecord] = field(default_factory=list)


def global_groups(segments: list[PreparedSegment]) -> dict[str, list[PreparedSegment]]:
    """Segments by frequency, only frequencies with at least two segments (one model each)."""
    groups: dict[str, list[PreparedSegment]] = {}
    for segment in segments:
        groups.setdefault(segment.frequency, []).append(segment)
    return {f: group for f, group in groups.items() if len(group) >= MIN_SEGMENTS}


def fold_length(segment: PreparedSegment, position: int) -> int | None:
    """Training length of the segment's fold ``position`` from the end (1: its last fold); None when it
    has fewer folds."""
    if position < 1 or position > segment.folds:
        return None
    return len(segment.history) - position * (segment.window or 0)


def static_columns(segments: list[PreparedSegment]) -> tuple[str, ...]:
    """Segment columns that group segments (fewer distinct values than segments): a column that names
    each segment apart says nothing the model could share."""
    columns = sorted({c for s in segments for c in s.values})
    return tuple(c for c in columns if 1 < len({str(s.values.get(c)) for s in segments}) < len(segments))


def _model(segments: list[PreparedSegment], models: ModelSpec) -> GlobalModel:
    first = segments[0]
    return GlobalModel(first.frequency, season_length(first.frequency), tuple(first.covariates), models.holidays_country,
                       static_columns(segments), models.transform, models.seed)


def fit_fold(segments: list[PreparedSegment], position: int, models: ModelSpec) -> tuple[GlobalModel, dict[str, pd.DataFrame]]:
    """Fit fold ``position`` (1: every segment's last fold) on every segment that has it, each up to its
    own cutoff, and forecast each one's fold window: ``{segment key: ds, yhat, yhat_lower, yhat_upper}``
    with the member's own (uncalibrated) interval."""
    used = [(s, fold_length(s, position)) for s in segments]
    used = [(s, n) for s, n in used if n is not None and n >= 3]
    frames = {s.key: fit_window(s, n) for s, n in used}
    model = _model([s for s, _ in used], models).fit(frames, {s.key: s.values for s, _ in used})
    out: dict[str, pd.DataFrame] = {}
    for window in sorted({s.window for s, _ in used}):
        group = [(s, n) for s, n in used if s.window == window]
        futures = {s.key: fold_test(s.history, n, n + window, s.covariate_fills) for s, n in group} if model.covariates else None
        paths = model.predict([s.key for s, _ in group], window, futures)
        for s, n in group:
            member = _member(s, models, model, paths[s.key], frames[s.key])
            out[s.key] = member.forecast(pd.DatetimeIndex(paths[s.key]["ds"]), calibrated=False)
    return model, out


def fit_final(segments: list[PreparedSegment], models: ModelSpec) -> tuple[GlobalModel, dict[str, GlobalMember]]:
    """Fit on every segment's full history; each segment's member, holding its forecast of the horizon."""
    frames = {s.key: fit_window(s, len(s.history)) for s in segments}
    model = _model(segments, models).fit(frames, {s.key: s.values for s in segments})
    members = {}
    for steps in sorted({len(s.future) for s in segments}):
        group = [s for s in segments if len(s.future) == steps]
        paths = model.predict([s.key for s in group], steps, {s.key: s.future for s in group} if model.covariates else None)
        for s in group:
            members[s.key] = _member(s, models, model, paths[s.key], frames[s.key])
    return model, members


def _member(segment: PreparedSegment, models: ModelSpec, model: GlobalModel, path: pd.DataFrame, frame: pd.DataFrame) -> GlobalMember:
    y = frame["y"].to_numpy(float)
    return GlobalMember(series_context(segment, models), segment=segment.key, global_key=model.key, path=path,
                        sigma=step_sigma(y), history=y, last_date=pd.Timestamp(frame["ds"].iloc[-1]))


@dataclass
class GlobalJob:
    """One fit of the global stage: a frequency's segments, a fold position (0: the final fit)."""

    frequency: str
    position: int
    segments: list[PreparedSegment]


@dataclass
class GlobalJobResult:
    """What one fit gave: its record, and the fold forecasts (a fold) or the members and the model (the
    final fit); empty with the record's error when it failed."""

    frequency: str
    position: int
    record: GlobalFitRecord
    forecasts: dict[str, pd.DataFrame] = field(default_factory=dict)
    members: dict[str, GlobalMember] = field(default_factory=dict)
    model: GlobalModel | None = None


def global_jobs(segments: list[PreparedSegment]) -> list[GlobalJob]:
    """Every fit of a run's global stage: per frequency with at least two segments, one per fold
    position and the final one. Independent of each other: a pipeline runs them one after the other,
    the training flow as concurrent tasks."""
    jobs = []
    for frequency, group in global_groups(segments).items():
        jobs += [GlobalJob(frequency, position, group) for position in range(1, max(s.folds for s in group) + 1)]
        jobs.append(GlobalJob(frequency, 0, group))
    return jobs


def run_global_job(job: GlobalJob, models: ModelSpec) -> GlobalJobResult:
    """One fit (:func:`fit_fold`, or :func:`fit_final` for position 0); a failure is recorded, never raised."""
    started = time.process_time()
    try:
        if job.position:
            model, forecasts = fit_fold(job.segments, job.position, models)
            record = GlobalFitRecord(job.frequency, job.position, len(model.trained_through), dict(model.trained_through),
                                     time.process_time() - started)
            return GlobalJobResult(job.frequency, job.position, record, forecasts=forecasts)
        model, members = fit_final(job.segments, models)
    except Exception as exc:  # reported on the segments' leaderboards, never fatal
        record = GlobalFitRecord(job.frequency, job.position, 0, {}, time.process_time() - started, f"{type(exc).__name__}: {exc}")
        return GlobalJobResult(job.frequency, job.position, record)
    record = GlobalFitRecord(job.frequency, 0, len(job.segments), dict(model.trained_through), time.process_time() - started)
    return GlobalJobResult(job.frequency, 0, record, members=members, model=model)


def assemble_global(segments: list[PreparedSegment], results: list[GlobalJobResult]) -> GlobalFit:
    """The global stage's outcome from every fit's result: each segment's fold forecasts and final
    member (or why it has none), the final model per frequency, every fit's record."""
    out = GlobalFit()
    groups = global_groups(segments)
    for segment in segments:
        out.segments[segment.key] = SegmentGlobal([None] * segment.folds, None,
                                                  "" if segment.frequency in groups else
                                                  f"global: needs at least {MIN_SEGMENTS} segments of frequency {segment.frequency}")
    cpu: dict[str, float] = {}
    for result in sorted(results, key=lambda r: (r.frequency, r.position == 0, r.position)):
        group = groups[result.frequency]
        out.fits.append(result.record)
        cpu[result.frequency] = cpu.get(result.frequency, 0.0) + result.record.seconds
        if result.record.error:
            what = f"fit of fold {{fold}}" if result.position else "final fit"
            for s in group:
                if not result.position or s.folds >= result.position:
                    out.segments[s.key].reason = (f"global {what.format(fold=s.folds - result.position + 1)} failed: {result.record.error}")
            continue
        if result.position:
            for s in group:
                if s.key in result.forecasts:
                    out.segments[s.key].folds[s.folds - result.position] = result.forecasts[s.key]
        else:
            out.models[result.frequency] = result.model
            for s in group:
                out.segments[s.key].member = result.members[s.key]
    for frequency, group in groups.items():
        if frequency in out.models:
            for s in group:
                out.segments[s.key].fit_seconds = cpu[frequency] / len(group)
    return out


def fit_global(segments: list[PreparedSegment], models: ModelSpec) -> GlobalFit:
    """Every fit of the global stage for a run, one after the other: per frequency with at least two
    segments, one fit per fold position and one final fit (see the module docstring). A fit that fails
    leaves its segments without that forecast and the reason; it never stops the run."""
    return assemble_global(segments, [run_global_job(job, models) for job in global_jobs(segments)])


def require_global(models: ModelSpec, segments: list[PreparedSegment]) -> ModelSpec:
    """The model set a run with these segments can fit: ``global`` is dropped when no frequency has two
    segments; asked for alone, that is an error naming why."""
    if "global" not in models.models or global_groups(segments):
        return models
    if models.models == ["global"]:
        raise ConfigError(f"model 'global' needs at least {MIN_SEGMENTS} segments of the same frequency; "
                            f"this run has {len(segments)} segment(s) to train")
    return models.model_copy(update={"models": [m for m in models.models if m != "global"]})
