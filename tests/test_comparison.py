"""Forecast-vs-actuals scoring, status bands, drift, the shared summary builder and its LLM fallback
(against our local server speaking the Databricks serving API), and the Excel export."""

import numpy as np
import pandas as pd
import pytest
from databricks_contract import ContractServer

from forecasting.contract import DataSpec
from forecasting.errors import DataError
from forecasting.ops.comparison import ComparisonPolicy, band, compare, load_actuals

DATES = pd.date_range("2025-01-01", periods=6, freq="D")


def forecast(segment, yhat, version="1", promoted_at="2025-01-01T00:00:00Z", width=5.0):
    yhat = np.asarray(yhat, dtype=float)
    return pd.DataFrame({"segment": segment, "ds": DATES[: len(yhat)].strftime("%Y-%m-%d"), "yhat": yhat, "yhat_lower": yhat - width,
                         "yhat_upper": yhat + width, "family": "ets", "registered_model": f"forecast_{segment}", "version": version,
                         "run_id": f"run-{version}", "promoted_at": promoted_at})


def actuals(segment, y):
    return pd.DataFrame({"segment": segment, "ds": DATES[: len(y)], "y": np.asarray(y, dtype=float)})


@pytest.mark.parametrize("error,expected", [(0.0, "excellent"), (0.05, "excellent"), (0.0501, "good"), (0.10, "good"),
                                            (0.15, "fair"), (0.25, "poor"), (0.2501, "critical"), (None, "critical"), (float("nan"), "critical")])
def test_status_bands_follow_the_published_edges(error, expected):
    assert band(error) == expected


def test_scores_bias_coverage_and_volume_weighted_totals():
    acts = pd.concat([actuals("a", [100] * 6), actuals("b", [1000] * 6)])
    fcs = pd.concat([forecast("a", [110] * 6), forecast("b", [990] * 6, width=20)])
    report = compare(acts, fcs)
    rows = report.segments.set_index("segment")
    assert rows.loc["a", "mape"] == pytest.approx(0.10) and rows.loc["a", "bias"] == pytest.approx(0.10)
    assert rows.loc["a", "coverage"] == 0.0 and rows.loc["b", "coverage"] == 1.0
    assert rows.loc["b", "wape"] == pytest.approx(0.01) and rows.loc["b", "bias"] == pytest.approx(-0.01)
    assert (rows.loc["a", "status"], rows.loc["b", "status"]) == ("good", "excellent")
    # the big segment dominates: (0.10*600 + 0.01*6000) / 6600
    assert report.totals["mape"] == pytest.approx((0.10 * 600 + 0.01 * 6000) / 6600)
    assert report.totals["wape"] == pytest.approx((60 + 60) / 6600) and report.totals["status"] == "excellent"


def test_drift_needs_misses_in_a_row_not_scattered_ones():
    acts = pd.concat([actuals("streak", [100] * 6), actuals("scattered", [100] * 6)])
    fcs = pd.concat([forecast("streak", [100, 140, 140, 140, 100, 100]), forecast("scattered", [140, 100, 140, 100, 140, 100])])
    report = compare(acts, fcs, ComparisonPolicy(drift_threshold=0.25, consecutive_periods=3))
    rows = report.segments.set_index("segment")
    assert report.drifting == ["streak"]
    assert (rows.loc["streak", "consecutive_misses"], rows.loc["scattered", "consecutive_misses"]) == (3, 1)
    assert rows.loc["scattered", "missed_periods"] == 3  # missed as often, never for long: no retraining


def test_the_latest_promoted_champion_answers_for_each_date_and_unmatched_segments_are_listed():
    acts = pd.concat([actuals("a", [100] * 4), actuals("new", [5] * 4)])
    old = forecast("a", [50] * 4, version="1", promoted_at="2025-01-01T00:00:00Z")
    new = forecast("a", [100] * 4, version="2", promoted_at="2025-01-02T00:00:00Z")
    report = compare(acts, pd.concat([new, old]))
    assert report.segments.set_index("segment").loc["a", "version"] == "2" and report.segments.loc[0, "mape"] == 0
    assert report.unmatched == ["new"]


@pytest.mark.parametrize("cell,message", [("2025-13-01", "not an ISO date: '2025-13-01'"), ("2025-01-01T00:00:00+01:00", "timezone-naive")])
def test_bad_actual_dates_name_segment_column_and_value(cell, message):
    frame = pd.DataFrame({"ds": ["2025-01-01", cell], "y": ["1", "2"], "region": ["EU", "EU"]})
    with pytest.raises(DataError, match=f"segment 'region=EU': column 'ds' .*{message}"):
        load_actuals(frame, DataSpec(segment_cols=["region"]))


def test_non_numeric_actuals_name_the_value():
    frame = pd.DataFrame({"ds": ["2025-01-01", "2025-01-02"], "y": ["1", "n/a!"], "region": ["EU", "EU"]})
    with pytest.raises(DataError, match="segment 'region=EU': column 'y' has a non-numeric value 'n/a!'"):
        load_actuals(frame, DataSpec(segment_cols=["region"]))


@pytest.fixture
def report():
    acts = pd.concat([actuals("region=EU", [100] * 6), actuals("region=US", [100] * 6)])
    return compare(acts, pd.concat([forecast("region=EU", [101] * 6), forecast("region=US", [150] * 6)]))


def test_comparison_summary_states_the_numbers_and_what_needs_action(report):
    from forecasting.ops.summary import comparison_summary

    text = comparison_summary(report, "wape")
    assert text.startswith("# Forecast vs actuals") and "**2 segments, 12 periods compared.**" in text
    assert "WAPE **25.5%**" in text and "keep missing" in text and "region=US" in text
    assert "| region=US | critical | 50.0% |" in text


@pytest.fixture
def chat_endpoint(monkeypatch):
    server = ContractServer()
    monkeypatch.setenv("DATABRICKS_HOST", server.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-summary-test")
    monkeypatch.delenv("DATABRICKS_CONFIG_PROFILE", raising=False)
    yield server
    server.close()


def test_llm_summary_is_used_when_the_endpoint_answers_with_the_reports_numbers(report, chat_endpoint):
    from forecasting.ops.llm_summary import SummaryConfig, executive_summary
    from forecasting.ops.summary import comparison_summary

    template = comparison_summary(report, "wape")
    chat_endpoint.chat_reply = lambda body: "Act on region=US first: WAPE 50.0%, critical."
    text, source = executive_summary(template, SummaryConfig(llm_endpoint="chat-model", timeout_seconds=5))
    assert text.startswith("Act on region=US first") and source == "llm:chat-model"
    sent = chat_endpoint.calls("POST", "/serving-endpoints/chat-model/invocations")[0]["body"]
    assert sent["messages"][1]["content"] == template and sent["temperature"] == 0.0


@pytest.mark.parametrize("reply,why", [("US missed by 73.5%.", "numbers the report does not"), ("", "no text")])
def test_llm_summary_falls_back_to_the_template_and_says_why(report, chat_endpoint, reply, why):
    from forecasting.ops.llm_summary import SummaryConfig, executive_summary
    from forecasting.ops.summary import comparison_summary

    template = comparison_summary(report, "wape")
    chat_endpoint.chat_reply = lambda body: reply
    text, source = executive_summary(template, SummaryConfig(llm_endpoint="chat-model", timeout_seconds=5))
    assert text.startswith(template) and why in text and source.startswith("template (LLM failed")


def test_llm_summary_falls_back_when_the_endpoint_is_down(report, chat_endpoint):
    from forecasting.ops.llm_summary import SummaryConfig, executive_summary
    from forecasting.ops.summary import comparison_summary

    chat_endpoint.inject.append(("/invocations", 500))
    text, source = executive_summary(comparison_summary(report, "wape"), SummaryConfig(llm_endpoint="chat-model", timeout_seconds=3))
    assert "LLM summary unavailable" in text and source.startswith("template (LLM failed")


def test_forecast_exports_an_excel_workbook_with_a_sheet_per_segment(tmp_path):
    import openpyxl
    from conftest import segments_csv

    from flows.cli import main

    data = segments_csv(tmp_path / "d.csv", regions=("EU", "US"), days=120)
    out = tmp_path / "forecast.xlsx"
    assert main(["forecast", "--data", str(data), "--segment-cols", "region", "--models", "ets", "--horizon", "7", "--folds", "1",
                 "--holidays", "none", "--output", str(out)]) == 0
    book = openpyxl.load_workbook(out)
    # the segment sheets follow the summary; the components, bridge, waterfall and audit sheets come last (issue 29)
    assert book.sheetnames[:3] == ["summary", "region=EU", "region=US"]
    summary = list(book["summary"].values)
    assert summary[0][:3] == ("segment", "model", "first") and len(summary) == 3
    assert book["region=EU"].max_row == 1 + 7


def test_sheet_names_are_excel_safe_and_unique():
    from forecasting.ops.export import sheet_names

    names = sheet_names(["a/b|c=[x]", "a/b|c=[y]", "x" * 40, "x" * 41])
    assert all(len(n) <= 31 and not set(n) & set("[]:*?/\\") for n in names.values())
    assert len(set(n.lower() for n in names.values())) == 4
