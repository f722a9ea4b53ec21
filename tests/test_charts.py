"""The forecast charts: what they draw (history, champion and interval, runner-up dashed; forecast vs
actuals), which segments get one, and the one-line cards the Prefect UI shows on the Artifacts tab."""

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.image import imread

from forecasting.ops.charts import (
    alt_text,
    ends,
    forecast_chart,
    index_markdown,
    rank_labels,
)
from forecasting.plots import comparison_figure, forecast_figure

HISTORY = pd.DataFrame({"ds": pd.date_range("2025-01-01", periods=200, freq="D").strftime("%Y-%m-%d"),
                        "y": 100 + 10 * np.sin(np.arange(200) / 3)})
FORECAST = pd.DataFrame({"ds": pd.date_range("2025-07-20", periods=14, freq="D").strftime("%Y-%m-%d"),
                         "yhat": 101.0, "yhat_lower": 90.0, "yhat_upper": 112.0})
RUNNER_UP = FORECAST.assign(yhat=104.0)


def lines(fig):
    return {line.get_label(): line for line in fig.axes[0].get_lines()}


def test_the_forecast_figure_draws_history_champion_interval_and_the_runner_up_dashed():
    fig = forecast_figure("region=EU", HISTORY, None, FORECAST, "ets", window=60, runner_up="theta", runner_up_forecast=RUNNER_UP)
    drawn = lines(fig)
    assert list(drawn["history"].get_ydata()) == list(HISTORY["y"].iloc[-60:])
    assert list(drawn["champion: ets"].get_ydata()) == [101.0] * 14 and drawn["champion: ets"].get_linestyle() == "-"
    assert list(drawn["runner-up: theta"].get_ydata()) == [104.0] * 14 and drawn["runner-up: theta"].get_linestyle() == "--"
    band = fig.axes[0].collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == 90.0 and band.max() == 112.0
    assert "runner-up" not in " ".join(lines(forecast_figure("region=EU", HISTORY, None, FORECAST, "ets")))


def test_the_comparison_figure_draws_the_forecast_against_the_actuals():
    periods = FORECAST.assign(y=np.linspace(95, 108, 14))
    drawn = lines(comparison_figure("region=EU", periods, "ets"))
    assert np.allclose(drawn["actual"].get_ydata(), periods["y"]) and np.allclose(drawn["forecast: ets"].get_ydata(), 101.0)


def test_worst_and_best_segments_get_charts_when_there_are_many_every_segment_when_few():
    few = {"a": 0.5, "b": None, "c": 1.5}
    assert ends(few, per_end=5) == (["b", "c", "a"], [])  # an undefined score counts as the worst
    many = {f"s{i:02d}": float(i) for i in range(25)}
    worst, best = ends(many, per_end=5)
    assert worst == ["s24", "s23", "s22", "s21", "s20"] and best == ["s00", "s01", "s02", "s03", "s04"]
    assert rank_labels(worst, best, 25)["s24"] == "worst 1 of 25" and rank_labels(worst, best, 25)["s01"] == "best 2 of 25"


def test_a_card_is_one_line_carrying_its_chart_as_a_png_the_segment_names():
    chart = forecast_chart("product=Cards|region=EU", "ets", "mase", 0.84, 1.1, HISTORY, FORECAST, "theta", RUNNER_UP,
                           "http://127.0.0.1:5000/#/experiments/1/runs/abc", "worst 1 of 3")
    assert "\n" not in chart.description  # the Artifacts tab shows only a description's first line
    assert chart.description.startswith("**product=Cards|region=EU** · worst 1 of 3 · ets · backtest MASE 0.840 (seasonal naive 1.100)")
    alt = alt_text("product=Cards|region=EU")
    assert f'![{alt}](data:image/png;base64,' in chart.description
    png = base64.b64decode(chart.description.split("data:image/png;base64,")[1].split(" ")[0].rstrip(")"))
    image = imread(io.BytesIO(png), format="png")
    assert image.shape[1] >= 380  # wide enough to read on a card
    assert chart.key == "forecast-product-cards-region-eu-" + chart.key.rsplit("-", 1)[1] and chart.key.islower()
    assert "http://127.0.0.1:5000/#/experiments/1/runs/abc" in chart.markdown and "| 2025-07-20 | 101.000 |" in chart.markdown


def test_the_index_lists_every_segment_and_links_the_charted_ones():
    markdown = index_markdown("Forecast charts", "intro", ["segment", "champion"], [["a|x", "ets"], ["b", "theta"]],
                              {"a|x": "http://ui/artifacts/artifact/1"}, {"a|x"})
    assert "| a\\|x | ets | [chart](http://ui/artifacts/artifact/1) |" in markdown and "| b | theta |  |" in markdown
