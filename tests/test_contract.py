import pandas as pd
import pytest

from forecasting.contract import (
    DataSpec,
    check_columns,
    parse_segment_key,
    segment_key,
    segment_slug,
)
from forecasting.errors import DataError
from forecasting.tables import read_table


def test_segment_key_is_sorted_by_column_and_stable():
    assert segment_key({"region": "EU", "product": "A"}) == "product=A|region=EU"
    assert segment_key({"product": "A", "region": "EU"}) == "product=A|region=EU"
    assert segment_key({}) == "all"
    assert parse_segment_key("product=A|region=EU") == {"product": "A", "region": "EU"}


def test_segment_key_prints_whole_floats_as_integers():
    # a numeric segment column read from Parquet must give the same key as the CSV text "1"
    assert segment_key({"IS_CGNA": 1.0}) == segment_key({"IS_CGNA": "1"}) == "IS_CGNA=1"


def test_segment_slug_is_registry_safe_and_distinct_for_non_ascii():
    a, b = segment_slug("region=Zürich"), segment_slug("region=Zurich")
    assert a != b
    for slug in (a, b, segment_slug("région=東京|x=1")):
        assert slug.replace("_", "").isalnum() and slug.isascii() and slug == slug.lower()


def test_empty_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match="empty"):
        read_table(path)


def test_header_only_is_an_error(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("ds,y\n")
    with pytest.raises(DataError, match="no data rows"):
        read_table(path)


def test_semicolon_delimiter_is_detected(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("ds;y;region\n2024-01-01;1.5;EU\n2024-01-02;2.5;EU\n")
    frame = read_table(path)
    assert list(frame.columns) == ["ds", "y", "region"]


def test_wrong_explicit_delimiter_names_the_missing_column_and_the_hint(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("ds;y\n2024-01-01;1\n2024-01-02;2\n")
    frame = read_table(path, delimiter=",")
    with pytest.raises(DataError, match=r"missing time column 'ds'.*delimiter"):
        check_columns(frame, DataSpec())


def test_missing_target_column_names_it_and_what_was_found():
    frame = pd.DataFrame({"date": ["2024-01-01"], "value": ["1"]})
    with pytest.raises(DataError) as err:
        check_columns(frame, DataSpec(time_col="date"))
    assert "target column 'y'" in str(err.value) and "date, value" in str(err.value)


def test_parquet_is_read(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=3), "y": [1.0, 2.0, 3.0]}).to_parquet(path)
    assert len(read_table(path)) == 3


def test_a_column_cannot_have_two_roles():
    with pytest.raises(ValueError, match="two roles"):
        DataSpec(segment_cols=["y"])
