import pandas as pd
import pytest

from forecasting.errors import DataError
from forecasting.frequency import future_dates, infer_frequency


@pytest.mark.parametrize(
    "dates,expected",
    [
        (pd.date_range("2024-01-01", periods=40, freq="D"), "D"),
        (pd.bdate_range("2024-01-01", periods=40), "B"),
        (pd.date_range("2024-01-01", periods=20, freq="W-MON"), "W-MON"),
        (pd.date_range("2024-01-07", periods=20, freq="W-SUN"), "W-SUN"),
        (pd.date_range("2024-01-01", periods=20, freq="MS"), "MS"),
        (pd.date_range("2024-01-31", periods=20, freq="ME"), "ME"),
        (pd.date_range("2024-01-01", periods=12, freq="QS-JAN"), "QS-JAN"),
        (pd.date_range("2024-03-31", periods=12, freq="QE-DEC"), "QE-DEC"),
        (pd.date_range("2024-01-31", periods=12, freq="QE-OCT"), "QE-OCT"),
    ],
)
def test_frequency_and_anchor_are_inferred(dates, expected):
    assert infer_frequency(dates) == expected


def test_gaps_do_not_change_the_inferred_frequency():
    dates = pd.date_range("2024-01-01", periods=40, freq="D").delete([5, 6, 20])
    assert infer_frequency(dates) == "D"


def test_weekly_data_on_two_anchors_is_irregular():
    dates = pd.date_range("2024-01-01", periods=20, freq="W-MON").append(pd.DatetimeIndex(["2024-06-02"]))
    with pytest.raises(DataError, match="not on the W-MON calendar"):
        infer_frequency(dates)


def test_month_mid_dates_are_irregular():
    dates = pd.date_range("2024-01-15", periods=20, freq="MS") + pd.Timedelta(days=14)
    with pytest.raises(DataError, match="irregular dates"):
        infer_frequency(dates)


def test_random_spacing_is_irregular():
    dates = pd.to_datetime(["2024-01-01", "2024-01-04", "2024-01-15", "2024-02-20", "2024-02-21", "2024-04-01"])
    with pytest.raises(DataError, match="irregular dates"):
        infer_frequency(dates)


def test_sub_daily_is_refused():
    with pytest.raises(DataError, match="time of day"):
        infer_frequency(pd.date_range("2024-01-01", periods=30, freq="h"))


@pytest.mark.parametrize(
    "last,freq,first",
    [
        ("2024-05-31", "ME", "2024-06-30"),
        ("2024-05-01", "MS", "2024-06-01"),
        ("2024-01-01", "W-MON", "2024-01-08"),
        ("2024-01-05", "B", "2024-01-08"),
        ("2024-03-31", "QE-DEC", "2024-06-30"),
        ("2024-12-31", "D", "2025-01-01"),
    ],
)
def test_future_starts_one_period_after_the_last_date_on_the_anchor(last, freq, first):
    dates = future_dates(pd.Timestamp(last), 3, freq)
    assert str(dates[0].date()) == first and len(dates) == 3
