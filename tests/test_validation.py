"""Every data trap the validation must catch, each reported with its segment, column and values."""

import numpy as np
import pandas as pd
import pytest
from conftest import FINANCE_SEGMENT_COLS, daily_frame

from forecasting.contract import DataSpec
from forecasting.folds import plan_folds
from forecasting.validation import ValidationPolicy, validate


def check(frame, horizon=14, folds=2, log=False, policy=None, **spec):
    report, prepared = validate(frame, DataSpec(**spec), policy or ValidationPolicy(), horizon, folds, log)
    return report, prepared


def only(report):
    (segment,) = report.segments.values()
    return segment


def messages(segment, level="error"):
    return [f.message for f in segment.findings if f.level == level]


def test_clean_series_passes_with_no_findings():
    report, prepared = check(daily_frame())
    assert only(report).ok and not only(report).findings
    seg = prepared["all"]
    assert seg.frequency == "D" and len(seg.history) == 200 and seg.folds == 2


def test_unparseable_date_names_column_value_and_row():
    frame = daily_frame()
    frame.loc[5, "ds"] = "2024-13-45"
    (msg,) = messages(only(check(frame)[0]))
    assert "unparseable dates in 'ds'" in msg and "'2024-13-45'" in msg and "row 7" in msg


def test_mixed_date_formats_are_an_error_not_a_guess():
    frame = daily_frame()
    frame.loc[10, "ds"] = "01/11/2024"
    (msg,) = messages(only(check(frame)[0]))
    assert "mixed date formats in 'ds'" in msg and "'01/11/2024'" in msg and "row 12" in msg


def test_timezone_aware_dates_are_refused():
    frame = daily_frame()
    frame["ds"] = frame["ds"] + "T00:00:00+02:00"
    (msg,) = messages(only(check(frame)[0]))
    assert "timezone-aware" in msg and "+02:00" in msg


def test_timezone_aware_parquet_dates_are_refused():
    frame = daily_frame()
    frame["ds"] = pd.to_datetime(frame["ds"]).dt.tz_localize("Europe/Berlin")
    (msg,) = messages(only(check(frame)[0]))
    assert "timezone-aware (Europe/Berlin)" in msg


def test_non_numeric_target_names_values_and_rows():
    frame = daily_frame()
    frame.loc[[3, 4], "y"] = ["abc", "12,5"]
    (msg,) = messages(only(check(frame)[0]))
    assert "non-numeric" in msg and "'abc'" in msg and "'12,5'" in msg and "rows 5, 6" in msg
    assert msg.endswith("if ',' is the decimal separator, set --decimal ,")


def test_infinite_target_is_an_error():
    frame = daily_frame()
    frame.loc[8, "y"] = "inf"
    (msg,) = messages(only(check(frame)[0]))
    assert "infinite" in msg and "row 10" in msg


def test_all_nan_target_is_an_error():
    frame = daily_frame()
    frame["y"] = np.nan
    (msg,) = messages(only(check(frame)[0]))
    assert "is empty" in msg


def test_nan_inside_history_is_filled_and_reported():
    frame = daily_frame()
    frame.loc[50, "y"] = np.nan
    report, prepared = check(frame)
    (msg,) = messages(only(report), "warning")
    assert "1 of 200 periods have no 'y' value (e.g. 2024-02-20)" in msg and "interpolate" in msg
    assert np.isfinite(prepared["all"].history["y"]).all()


def test_duplicate_timestamps_are_an_error_by_default():
    frame = pd.concat([daily_frame(), daily_frame().iloc[[20]]], ignore_index=True)
    (msg,) = messages(only(check(frame)[0]))
    assert "share a timestamp" in msg and "2024-01-21" in msg and "duplicates=sum" in msg


@pytest.mark.parametrize("policy,expected", [("sum", 30.0), ("mean", 15.0), ("last", 20.0)])
def test_duplicate_policies_combine_rows(policy, expected):
    frame = daily_frame()
    extra = frame.iloc[[20]].copy()
    frame.loc[20, "y"], extra["y"] = "10", "20"
    report, prepared = check(pd.concat([frame, extra], ignore_index=True), policy=ValidationPolicy(duplicates=policy))
    assert only(report).ok
    history = prepared["all"].history
    assert history.loc[history["ds"] == "2024-01-21", "y"].item() == expected


def test_missing_periods_are_reindexed_and_filled():
    frame = daily_frame().drop(index=[30, 31, 32]).reset_index(drop=True)
    report, prepared = check(frame)
    history = prepared["all"].history
    assert len(history) == 200 and history["ds"].diff().dropna().dt.days.eq(1).all()
    assert "3 of 200 periods have no 'y' value" in messages(only(report), "warning")[0]


def test_too_many_missing_periods_is_an_error():
    full = daily_frame()
    frame = full[(full.index < 100) | (full.index % 2 == 0)].reset_index(drop=True)  # 50 of 200 days missing
    (msg,) = messages(only(check(frame)[0]))
    assert "max_missing_fraction=0.2" in msg


def test_fill_policy_error_refuses_gaps():
    frame = daily_frame().drop(index=[30]).reset_index(drop=True)
    (msg,) = messages(only(check(frame, policy=ValidationPolicy(fill_missing="error"))[0]))
    assert "2024-01-31" in msg


def test_negative_values_warn_and_block_a_log_transform():
    frame = daily_frame()
    frame.loc[12, "y"] = "-5"
    assert "negative" in messages(only(check(frame)[0]), "warning")[0]
    (msg,) = messages(only(check(frame, log=True)[0]))
    assert "log transform needs positive values" in msg and "-5" in msg


def test_constant_series_is_an_error():
    frame = daily_frame()
    frame["y"] = "42"
    (msg,) = messages(only(check(frame)[0]))
    assert "constant (42" in msg


def test_fewer_than_three_observations_cannot_be_forecast():
    (msg,) = messages(only(check(daily_frame(days=2), frequency="D")[0]))
    assert "series too short: 2 period(s); at least 3 are needed" in msg


def test_a_short_history_is_backtested_on_a_shorter_window_and_marked_low_confidence():
    """30 days for a 28-day horizon: one fold scores the 16 days after a 14-day (two-week) training
    window; the forecast still covers all 28 days."""
    report, prepared = check(daily_frame(days=30), horizon=28)
    segment = prepared["all"]
    assert (segment.folds, segment.window, len(segment.future)) == (1, 16, 28)
    (msg,) = messages(only(report), "warning")
    assert "the backtest scores 16 of the 28 periods forecast" in msg and "low confidence" in msg
    assert "scored 16 of the 28 periods" in only(report).low_confidence


def test_four_observations_get_no_backtest_and_say_how_the_champion_is_chosen():
    report, prepared = check(daily_frame(days=4), horizon=7, frequency="D")
    assert prepared["all"].folds == 0 and len(prepared["all"].future) == 7
    (msg,) = messages(only(report), "warning")
    assert "too few for a backtest" in msg and "the champion is the naive forecast" in msg


@pytest.mark.parametrize("n,horizon,season,folds,window", [
    (730, 30, 7, 3, 30),  # long daily history: unchanged, three full folds
    (97, 13, 52, 3, 13),  # two years of weeks: the 2-season floor gives way to half the history
    (30, 12, 12, 1, 12),  # 30 months, a year ahead: one full fold after 18 months
    (14, 6, 1, 1, 6),     # the shortest M3 yearly series
    (16, 8, 4, 1, 8),     # the shortest M3 quarterly series
    (8, 12, 12, 1, 4),    # 8 months for a year ahead: one fold of 4
    (4, 6, 1, 0, 0),      # no backtest
])
def test_the_fold_plan_rule(n, horizon, season, folds, window):
    plan = plan_folds(n, horizon, 3, season)
    assert (plan.folds, plan.window) == (folds, window)
    assert plan.low_confidence == (folds == 0 or window < horizon)


def test_a_trending_yearly_series_gets_no_outlier_warning():
    """Ordinary trend points are not outliers (the old rolling-median rule flagged them)."""
    y = 1000 * 1.08 ** np.arange(30) + np.random.default_rng(2).normal(0, 20, 30)
    frame = pd.DataFrame({"ds": pd.date_range("1990-01-01", periods=30, freq="YS").strftime("%Y-%m-%d"), "y": y.round(2).astype(str)})
    report, prepared = check(frame, horizon=6)
    assert prepared["all"].frequency == "YS-JAN"
    assert not [f for f in only(report).findings if f.check == "outliers"]


def test_short_series_gets_fewer_folds_with_a_warning():
    report, prepared = check(daily_frame(days=60), horizon=14, folds=3)
    assert prepared["all"].folds == 3 or "allow" in messages(only(report), "warning")[0]
    report, prepared = check(daily_frame(days=50), horizon=14, folds=3)
    assert prepared["all"].folds == 2 and "allow 2 backtest fold(s)" in messages(only(report), "warning")[0]


def test_incomplete_last_day_of_the_real_series_is_dropped(finance_daily):
    report, prepared = check(finance_daily, horizon=30, folds=3, segment_cols=FINANCE_SEGMENT_COLS)
    segment = next(iter(prepared.values()))
    assert str(segment.history["ds"].iloc[-1].date()) == "2025-11-18"
    assert str(segment.future["ds"].iloc[0].date()) == "2025-11-19"
    warning = next(f for f in only(report).findings if f.check == "incomplete_trailing")
    assert "2025-11-19 looks incomplete: 82,591 is 40%" in warning.message
    # the dropped day is forecast instead: the forecast still runs 30 days past the last date given
    assert len(segment.future) == 31 and str(segment.future["ds"].iloc[-1].date()) == "2025-12-19"


def test_incomplete_last_day_kept_when_asked(finance_daily):
    _, prepared = check(finance_daily, horizon=30, policy=ValidationPolicy(incomplete_trailing="warn"), segment_cols=FINANCE_SEGMENT_COLS)
    assert str(next(iter(prepared.values())).history["ds"].iloc[-1].date()) == "2025-11-19"


def test_outliers_are_flagged_and_optionally_winsorized_before_each_fit():
    from forecasting.backtest import fit_window

    frame = daily_frame()
    frame.loc[100, "y"] = "10000"
    report, prepared = check(frame)
    assert "1 outlier(s)" in messages(only(report), "warning")[0] and "2024-04-10=10,000" in messages(only(report), "warning")[0]
    assert prepared["all"].history["y"].max() == 10000
    _, prepared = check(frame, policy=ValidationPolicy(outliers="winsorize"))
    segment = prepared["all"]
    assert segment.history["y"].max() == 10000  # the data as given; each fit clips against its own window
    assert fit_window(segment, len(segment.history))["y"].max() < 200
    assert fit_window(segment, 100)["y"].max() == pytest.approx(segment.history["y"].iloc[:100].max())  # before the spike: untouched


def test_leaky_covariate_of_the_real_series_is_refused(finance_daily):
    report, prepared = check(finance_daily, horizon=30, segment_cols=FINANCE_SEGMENT_COLS, covariate_cols=["TOT_SUB"])
    assert not prepared
    (finding,) = only(report).errors
    assert finding.column == "TOT_SUB" and "leaks the target 'y' (correlation 0.98" in finding.message
    assert finding.segment == "BUSINESS_SEGMENT=Classic|IS_CGNA=1|MX_TYPE=Enterprise"


def test_leaky_covariate_can_be_dropped_with_a_warning(finance_daily):
    frame = _with_future_covariates(finance_daily, ["AVG_SUB", "TOT_SUB"], days=30)
    report, prepared = check(frame, horizon=30, policy=ValidationPolicy(leaky_covariates="drop"), segment_cols=FINANCE_SEGMENT_COLS, covariate_cols=["AVG_SUB", "TOT_SUB"])
    segment = next(iter(prepared.values()))
    assert segment.covariates == ["AVG_SUB"]
    assert any(f.check == "leakage" and "dropped" in f.message for f in only(report).warnings)


def test_covariate_without_future_values_is_an_error(finance_daily):
    report, _ = check(finance_daily, horizon=30, segment_cols=FINANCE_SEGMENT_COLS, covariate_cols=["AVG_SUB"])
    (msg,) = messages(only(report))
    # the dropped incomplete day 2025-11-19 has a known covariate value: it is the first of 31 future periods
    assert "covariate 'AVG_SUB' is not available for the forecast horizon: 30 of 31" in msg and "2025-11-20 .. 2025-12-19" in msg


def test_covariate_with_future_rows_passes(finance_daily):
    frame = _with_future_covariates(finance_daily, ["AVG_SUB"], days=30)
    report, prepared = check(frame, horizon=30, segment_cols=FINANCE_SEGMENT_COLS, covariate_cols=["AVG_SUB"])
    segment = next(iter(prepared.values()))
    assert only(report).ok and list(segment.future.columns) == ["ds", "AVG_SUB"]
    assert len(segment.future) == 31 and segment.future["AVG_SUB"].notna().all()  # the dropped day and 30 more


def _with_future_covariates(frame, columns, days):
    last = frame.iloc[-1]
    future = pd.DataFrame({"ds": pd.date_range(pd.Timestamp(last["ds"]) + pd.Timedelta(days=1), periods=days).strftime("%Y-%m-%d")})
    for col in frame.columns:
        if col not in ("ds", "y"):
            future[col] = last[col]
    return pd.concat([frame, future], ignore_index=True)


def test_missing_segment_value_fails_only_those_rows():
    frame = pd.concat([daily_frame(region="EU"), daily_frame(region="US")], ignore_index=True)
    frame.loc[[3, 250], "region"] = np.nan
    report, prepared = check(frame, segment_cols=["region"])
    assert set(prepared) == {"region=EU", "region=US"}
    (msg,) = messages(report.segments["region=<missing>"])
    assert "segment column 'region' is empty in 2 row(s) (rows 5, 252)" in msg


def test_each_segment_is_reported_separately():
    bad = daily_frame(region="US")
    bad.loc[2, "y"] = "oops"
    frame = pd.concat([daily_frame(region="EU"), bad], ignore_index=True)
    report, prepared = check(frame, segment_cols=["region"])
    assert list(prepared) == ["region=EU"] and report.failed == ["region=US"]
    assert report.segments["region=US"].errors[0].line().startswith("segment 'region=US': target 'y' has non-numeric values 'oops'")
    assert set(report.to_frame().columns) == {"segment", "level", "column", "check", "message"}
