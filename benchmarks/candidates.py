"""Run one benchmark series through the pipeline and keep everything a rule could be scored on later:
every candidate's backtest forecasts (fold by fold, beside the actuals), every candidate refitted on the
whole training part (``all_models``), the pipeline's own champion, and the statsforecast anchors
(AutoETS, AutoARIMA, DynamicOptimizedTheta called directly, as their users call them) on the same split.

    python -m benchmarks.candidates m3-quarterly tourism-yearly   # writes benchmarks/results/cache/<set>.pkl.gz

Selection and interval rules are then re-scored from these records in seconds
(``benchmarks.scoring``, ``benchmarks.rescore_selection``), never by refitting.
"""

from __future__ import annotations

import argparse
import gzip
import pickle
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.datasets import SETS, Series

CACHE = Path(__file__).resolve().parent / "results" / "cache"
ANCHOR_LEVELS = (80, 90)


def worker_init() -> None:
    from forecasting.system.runtime import pin_native_threads

    pin_native_threads(1)
    warnings.filterwarnings("ignore")


def job_for(series: Series, **models):
    from forecasting.backtest import BacktestSpec
    from forecasting.contract import DataSpec
    from forecasting.models import ModelSpec
    from forecasting.pipeline import ForecastJob

    return ForecastJob(data=DataSpec(covariate_cols=list(series.covariates)), backtest=BacktestSpec(horizon=series.horizon),
                       models=ModelSpec(all_models=True, **models))


def _f32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def prepare_series(series: Series, **models):
    """The series as the pipeline validates it, one segment keyed by the series' name (a run's segments
    need distinct keys), with its validation report; the segment is None when validation refused it."""
    from forecasting.pipeline import prepare

    report, prepared = prepare(series.frame(), job_for(series, **models))
    segment = next(iter(prepared.values()), None)
    if segment is not None:
        segment.key = series.name
    return segment, next(iter(report.segments.values()))


def run_series(series: Series, cross=None, backtest=None, cpu_before: float = 0.0, **models) -> dict:
    """The record of one series (see the module docstring); ``error`` when the pipeline refused it.
    ``cross``: the series' share of its run's global fits (``forecasting.global_fit``); without it the
    global candidate is left out. ``backtest``: the series' backtest when it was run (and its ensemble
    re-weighted, ``forecasting.learned_combination``) before; ``cpu_before`` its CPU seconds."""
    from forecasting.backtest import run_backtest
    from forecasting.selection import select_and_refit

    started, cpu = time.perf_counter(), time.process_time() - cpu_before
    record: dict = {"set": series.set, "series": series.name, "n": len(series.train), "horizon": series.horizon,
                    "season": series.season, "train": _f32(series.train), "test": _f32(series.test)}
    job = job_for(series, **models)
    segment, segment_report = prepare_series(series, **models)
    record["checks"] = sorted({f.check for f in segment_report.findings if f.level != "info"})
    if segment is None:
        record["error"] = "; ".join(f.message for f in segment_report.errors)
        return record
    if isinstance(backtest, str):
        record["error"] = backtest
        return record
    try:
        backtest = backtest or run_backtest(segment, job.models, job.backtest, cross)
        selection = select_and_refit(segment, backtest, job.models)
    except Exception as exc:  # recorded: a refusal is a benchmark result, not a crash
        record["error"] = f"{type(exc).__name__}: {exc}"
        return record
    test_dates = pd.date_range(segment.history["ds"].iloc[-1], periods=series.horizon + 1 + (len(segment.future) - series.horizon),
                               freq=segment.frequency)[-series.horizon:]
    record.update(folds=segment.folds, window=segment.window, low_confidence=segment.low_confidence, champion=selection.champion,
                  global_weight=getattr(backtest, "global_weight", None),
                  runner_up=selection.runner_up, notes=list(selection.notes), metric=backtest.metric,
                  used=_f32(segment.history["y"]), candidates={})
    for name, candidate in backtest.candidates.items():
        folds = [{"yhat": _f32(f["yhat"]), "lower": _f32(f["yhat_lower"]), "upper": _f32(f["yhat_upper"]), "actual": _f32(f["y"]),
                  "observed": np.asarray(f["observed"], bool)} for f in candidate.forecasts]
        entry = {"status": candidate.status, "failed_at": candidate.failed_at, "folds": folds, "params": candidate.params}
        final = selection.candidate_forecasts.get(name)
        if final is not None:
            final = final.set_index("ds").reindex(test_dates)
            entry["final"] = {"yhat": _f32(final["yhat"]), "lower": _f32(final["yhat_lower"]), "upper": _f32(final["yhat_upper"])}
        record["candidates"][name] = entry
    champion = selection.forecast.set_index("ds").reindex(test_dates)
    own = selection.champion_model.forecast(pd.DatetimeIndex(segment.future["ds"]), segment.future, calibrated=False).set_index("ds").reindex(test_dates)
    record["champion_final"] = {"yhat": _f32(champion["yhat"]), "lower": _f32(champion["yhat_lower"]), "upper": _f32(champion["yhat_upper"]),
                                "own_lower": _f32(own["yhat_lower"]), "own_upper": _f32(own["yhat_upper"])}  # the family's own interval
    record["level"] = job.models.level
    record["model_seconds"] = time.perf_counter() - started
    same_data = np.array_equal(np.asarray(segment.history["y"], float), np.asarray(series.train, float))
    record["anchors"] = anchors(series, selection.candidate_models if same_data else {})
    record["seconds"], record["cpu_seconds"] = time.perf_counter() - started, time.process_time() - cpu
    return record


def anchors(series: Series, fitted: dict | None = None) -> dict:
    """statsforecast's AutoETS, AutoARIMA and DynamicOptimizedTheta with the set's season, fitted on the
    training part as statsforecast's users call them; their point forecasts and 80/90 % intervals.

    Where the pipeline's family made exactly the same call on exactly the same values (``fitted``: the
    families refitted on the training part), its fitted statsforecast model is asked for the forecast
    instead of fitting it a second time: same model object, same predict (``fit(y).predict(h)`` equals
    ``forecast(y, h)``; tests/test_accuracy_benchmark.py checks it). Otherwise the anchor is fitted here."""
    from statsforecast.models import AutoARIMA, AutoETS, DynamicOptimizedTheta

    out = {}
    y = np.asarray(series.train, float)
    for name, model in (("AutoETS", AutoETS(season_length=series.season)), ("AutoARIMA", AutoARIMA(season_length=series.season)),
                        ("DynamicOptimizedTheta", DynamicOptimizedTheta(season_length=series.season))):
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                same = same_call(name, (fitted or {}).get(ANCHOR_FAMILY[name]), series)
                fc = same.predict(h=series.horizon, level=list(ANCHOR_LEVELS)) if same is not None else \
                    model.forecast(y=y, h=series.horizon, level=list(ANCHOR_LEVELS))
            out[name] = {"yhat": _f32(fc["mean"]), **{f"{side}{lvl}": _f32(fc[f"{side}-{lvl}"]) for lvl in ANCHOR_LEVELS for side in ("lo", "hi")}}
        except Exception as exc:  # an anchor that cannot fit a series is recorded as such
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


ANCHOR_FAMILY = {"AutoETS": "ets", "AutoARIMA": "arima", "DynamicOptimizedTheta": "theta"}


def same_call(anchor: str, family, series: Series):
    """The family's fitted statsforecast model when it was fitted exactly as the anchor would be (same
    model class, season and options, nothing removed or transformed first), else None."""
    if family is None or getattr(family, "_long_season", None) is not None or family.context.transform != "none" or family.context.covariates:
        return None
    inner, m, n = getattr(family, "_model", None), series.season, len(series.train)
    params = family.params
    if anchor == "AutoARIMA":  # ours approximates the likelihood on long or finely seasonal series; the anchor never does
        ok = type(inner).__name__ == "AutoARIMA" and params.get("season_length") == m and n <= 150 and m <= 12
    elif anchor == "AutoETS":
        ok = type(inner).__name__ == "AutoETS" and getattr(inner, "season_length", None) == m
    else:
        ok = type(inner).__name__ == "DynamicOptimizedTheta" and params.get("season_length") == m and params.get("decomposition") == "multiplicative"
    return inner if ok else None


def _run(series: Series) -> dict:
    return run_series(series)


def _run_shared(item) -> dict:
    series, cross, backtest, cpu = item
    return run_series(series, cross, backtest, cpu)


def _backtest_only(item):
    """The series' validated segment and backtest (or the refusal as text), and the CPU seconds it took."""
    from forecasting.backtest import run_backtest

    series, cross = item
    cpu = time.process_time()
    segment, _ = prepare_series(series)
    if segment is None:
        return None, None, time.process_time() - cpu
    job = job_for(series)
    try:
        backtest = run_backtest(segment, job.models, job.backtest, cross)
    except Exception as exc:
        backtest = f"{type(exc).__name__}: {exc}"
    return segment, backtest, time.process_time() - cpu


def learned_stage(series: list[Series], backtested: list) -> None:
    """The global model's ensemble weight learned per run on its series' backtests, and their ensembles
    scored with it (``forecasting.learned_combination.learn_and_reweight``), as ``run_forecast`` does."""
    from forecasting.learned_combination import learn_and_reweight

    runs: dict[str, list] = {}
    for s, (segment, backtest, _) in zip(series, backtested):
        if segment is not None and not isinstance(backtest, str):
            runs.setdefault(run_key(s), []).append((segment, backtest))
    for pairs in runs.values():
        learn_and_reweight(pairs)


def _prepare(series: Series):
    return prepare_series(series)[0]


def run_key(series: Series) -> str:
    """Which run a series belongs to: a competition set is one run (one table of many segments); a set of
    rolling origins is one run per origin and horizon (``name@k h``), with and without covariates apart."""
    origin = series.name.split("@")[1] if "@" in series.name else ""
    return f"{origin}{'+covariates' if series.covariates else ''}"


def global_stage(series: list[Series], segments: list, label: str) -> tuple[dict, dict]:
    warnings.filterwarnings("ignore", module="mlforecast")  # "series dropped by the transformations": short ones, stated in the docs
    """The global model's fits for every run of a set (``forecasting.global_fit.fit_global``, once per fold
    position and once on all history, per run): each series' share, and what was fitted."""
    from forecasting.global_fit import fit_global
    from forecasting.models import ModelSpec

    started, cpu = time.perf_counter(), time.process_time()
    runs: dict[str, list] = {}
    for s, segment in zip(series, segments):
        if segment is not None:
            runs.setdefault(run_key(s), []).append(segment)
    shared, fits = {}, 0
    for members in runs.values():
        fit = fit_global(members, ModelSpec(all_models=True))
        shared.update(fit.segments)
        fits += len(fit.fits)
    info = {"runs": len(runs), "fits": fits, "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu}
    print(f"  {label}: global model, {fits} fit(s) over {len(runs)} run(s) in {info['seconds']:.0f} s", file=sys.stderr, flush=True)
    return shared, info


def _anchors_only(series: Series) -> dict:
    return {"set": series.set, "series": series.name, "season": series.season, "train": _f32(series.train), "test": _f32(series.test),
            "anchors": anchors(series)}


def run_set(series: list[Series], workers: int, label: str, task=_run, shared: bool = True, context: list[Series] | None = None) -> list[dict]:
    """Every series of a set, in order, over ``workers`` processes, with progress on stderr. With
    ``shared`` (and the pipeline's task) the set's series are first validated, then the global model is
    fitted across each run's series (:func:`global_stage`) before the per-series work, which reads it.
    ``context``: the whole set when ``series`` is a subset of it (``--limit``): the global model is
    fitted on every series of the set, as a run of the whole table would, and only ``series`` scored."""
    out: list[dict] = []
    started = time.perf_counter()
    pool = ProcessPoolExecutor(workers, initializer=worker_init) if workers > 1 else None
    if pool is None:
        worker_init()
    mapper = (lambda fn, items: pool.map(fn, items, chunksize=2)) if pool is not None else map
    items, info = series, None
    if shared and task is _run:
        pooled = context or series
        segments = list(mapper(_prepare, pooled))
        crosses, info = global_stage(pooled, segments, label)
        pairs = [(s, crosses.get(s.name)) for s in series]
        backtested = list(mapper(_backtest_only, pairs))
        learned_stage(series, backtested)
        items, task = [(s, c, b, cpu) for (s, c), (_, b, cpu) in zip(pairs, backtested)], _run_shared
    iterator = mapper(task, items)
    try:
        for i, record in enumerate(iterator, start=1):
            if i == 1 and info is not None:
                record["global_stage"] = info  # once per set: the cross-segment fits' cost
            out.append(record)
            if i % 50 == 0 or i == len(series):
                print(f"  {label}: {i}/{len(series)} in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    finally:
        if pool is not None:
            pool.shutdown()
    return out


def print_anchors(name: str, records: list[dict]) -> None:
    from benchmarks.scoring import ANCHOR_MEAN, ANCHORS, mase, smape

    rows = {}
    for r in records:
        fits = [np.asarray(r["anchors"][a]["yhat"], float) for a in ANCHORS if "yhat" in r["anchors"][a]]
        methods = {a: np.asarray(r["anchors"][a]["yhat"], float) for a in ANCHORS if "yhat" in r["anchors"][a]}
        if fits:
            methods[ANCHOR_MEAN] = np.mean(fits, axis=0)
        for m, f in methods.items():
            rows.setdefault(m, []).append((smape(r["test"], f), mase(r["test"], f, r["train"], r["season"])))
    print(f"{name}: {len(records)} series")
    for m, values in rows.items():
        print(f"  {m:26s} sMAPE {np.mean([v[0] for v in values]):6.2f}  MASE {np.mean([v[1] for v in values]):6.3f}  ({len(values)} series)")


def save(records: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as handle:
        pickle.dump(records, handle, protocol=pickle.HIGHEST_PROTOCOL)


def load(path: Path) -> list[dict]:
    with gzip.open(path, "rb") as handle:
        return pickle.load(handle)


def cache_path(name: str) -> Path:
    return CACHE / f"{name}.pkl.gz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.candidates", description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="+", choices=sorted(SETS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="every k-th series so that at most N are run")
    parser.add_argument("--anchors-only", action="store_true", help="only the statsforecast anchors: their table, nothing cached")
    args = parser.parse_args(argv)
    for name in args.sets:
        series = SETS[name]()
        if args.limit:
            series = series[:: max(1, len(series) // args.limit)][: args.limit]
        started = time.perf_counter()
        if args.anchors_only:
            print_anchors(name, run_set(series, args.workers, name, _anchors_only))
            continue
        records = run_set(series, args.workers, name)
        save(records, cache_path(name))
        errors = sum("error" in r for r in records)
        print(f"{name}: {len(records)} series ({errors} refused) in {(time.perf_counter() - started) / 60:.1f} min -> {cache_path(name)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
