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


def run_series(series: Series, **models) -> dict:
    """The record of one series (see the module docstring); ``error`` when the pipeline refused it."""
    from forecasting.backtest import run_backtest
    from forecasting.pipeline import prepare
    from forecasting.selection import select_and_refit

    started, cpu = time.perf_counter(), time.process_time()
    record: dict = {"set": series.set, "series": series.name, "n": len(series.train), "horizon": series.horizon,
                    "season": series.season, "train": _f32(series.train), "test": _f32(series.test)}
    job = job_for(series, **models)
    report, prepared = prepare(series.frame(), job)
    segment_report = next(iter(report.segments.values()))
    record["checks"] = sorted({f.check for f in segment_report.findings if f.level != "info"})
    if not prepared:
        record["error"] = "; ".join(f.message for f in segment_report.errors)
        return record
    segment = next(iter(prepared.values()))
    try:
        backtest = run_backtest(segment, job.models, job.backtest)
        selection = select_and_refit(segment, backtest, job.models)
    except Exception as exc:  # recorded: a refusal is a benchmark result, not a crash
        record["error"] = f"{type(exc).__name__}: {exc}"
        return record
    test_dates = pd.date_range(segment.history["ds"].iloc[-1], periods=series.horizon + 1 + (len(segment.future) - series.horizon),
                               freq=segment.frequency)[-series.horizon:]
    record.update(folds=segment.folds, window=segment.window, low_confidence=segment.low_confidence, champion=selection.champion,
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


def _anchors_only(series: Series) -> dict:
    return {"set": series.set, "series": series.name, "season": series.season, "train": _f32(series.train), "test": _f32(series.test),
            "anchors": anchors(series)}


def run_set(series: list[Series], workers: int, label: str, task=_run) -> list[dict]:
    """Every series of a set, in order, over ``workers`` processes, with progress on stderr."""
    out: list[dict] = []
    started = time.perf_counter()
    if workers <= 1:
        worker_init()
        iterator = map(task, series)
        pool = None
    else:
        pool = ProcessPoolExecutor(workers, initializer=worker_init)
        iterator = pool.map(task, series, chunksize=2)
    try:
        for i, record in enumerate(iterator, start=1):
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
