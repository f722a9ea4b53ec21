"""What a person sees in a browser after a demo-like training: the forecast chart of every segment on
the run's Artifacts tab of the Prefect UI (both the v1 and the v2 UI the server ships), and summary
links that open the segment's run in the MLflow UI `forecast-flows server start` runs beside Prefect.

Needs Chromium; `make ui-check` installs Debian's and runs this. Set UI_CHECK_SCREENSHOT=path to keep
the screenshot of the Artifacts tab (docs/prefect-artifacts.png was made this way)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from browser import Chromium, chromium_binary
from servers import start_prefect_server, stop

from forecasting.system.processes import alive

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "forecast-flows"
SEGMENTS = ("product=Cards|region=APAC", "product=Cards|region=EU", "product=Cards|region=US")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(chromium_binary() is None,
                                                   reason="no Chromium installed (`make ui-check` installs Debian's chromium and runs this test)")]


def api(url: str, path: str, body: dict) -> list | dict:
    request = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def images_js() -> str:
    """The decoded forecast chart images on the page, by alt text (naturalWidth 0: not decoded)."""
    return ("Object.fromEntries(Array.from(document.querySelectorAll('img[alt^=\"forecast chart \"]'))"
            ".filter(i => i.complete && i.naturalWidth > 0).map(i => [i.alt, i.naturalWidth]))")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A real Prefect server, the MLflow UI from `forecast-flows server start`, and the bundled sample data
    trained through `forecast-flows train` (the demo's data and horizon; two fast families, no deploy)."""
    home = tmp_path_factory.mktemp("ui")
    server, prefect_api, env = start_prefect_server(home)
    env = {**env, "FORECAST_FLOWS_HOME": str(home / "state")}
    try:
        started = subprocess.run([str(BIN), "server", "start"], env=env, capture_output=True, text=True, timeout=180)
        assert started.returncode == 0, started.stderr
        mlflow_ui = re.search(r"MLflow UI: (http://127\.0\.0\.1:\d+)", started.stdout).group(1)
        train = subprocess.run([str(BIN), "train", "--data", str(ROOT / "examples/data/finance_segments.csv"), "--segment-cols", "region,product",
                                "--horizon", "30", "--models", "ets,theta", "--skip-deploy"], env=env, capture_output=True, text=True, timeout=600)
        assert train.returncode == 0, train.stdout + train.stderr
        (run,) = api(prefect_api, "/flow_runs/filter", {"flows": {"name": {"any_": ["forecast-training"]}}})
        yield {"ui": prefect_api.removesuffix("/api"), "api": prefect_api, "run": run["id"], "mlflow_ui": mlflow_ui, "home": home}
    finally:
        record = home / "state" / "mlflow-ui" / "server.json"
        pid = json.loads(record.read_text())["pid"] if record.exists() else None
        stopped = subprocess.run([str(BIN), "server", "stop"], env=env, capture_output=True, text=True, timeout=60)
        stop(server)
        assert "local MLflow UI stopped" in stopped.stdout and (pid is None or not alive(pid))


@pytest.fixture(scope="module")
def browser():
    chromium = Chromium(chromium_binary())
    yield chromium
    chromium.close()


def test_the_artifacts_tab_shows_the_forecast_chart_of_every_segment(demo_run, browser):
    # the v1 UI: where the run's "View at" link goes; its tab must be clicked (the URL's tab is reset while the run loads)
    browser.open(f"{demo_run['ui']}/runs/flow-run/{demo_run['run']}")
    click_tab = "if (!location.search.includes('tab=Artifacts')) document.querySelector('#artifacts')?.click();"
    charts = browser.wait_for(f"(() => {{ {click_tab} const c = {images_js()}; return Object.keys(c).length >= {len(SEGMENTS)} && c; }})()",
                              what="3 charts on the Artifacts tab")
    assert sorted(charts) == [f"forecast chart {segment}" for segment in SEGMENTS]
    assert all(width >= 380 for width in charts.values())
    cards = browser.evaluate("document.querySelector('.flow-run-artifacts').innerText")
    assert "forecast-charts" in cards and "training-summary" in cards and "1 of 3, worst first" in cards
    browser.evaluate("document.querySelector('.flow-run-artifacts').scrollIntoView()")
    shot = browser.screenshot(Path(os.environ.get("UI_CHECK_SCREENSHOT") or demo_run["home"] / "prefect-artifacts.png"))
    assert shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")

    # the v2 UI (the server's default at /): the tab is in the URL
    browser.open(f"{demo_run['ui']}/v2/runs/flow-run/{demo_run['run']}?tab=Artifacts")
    charts = browser.wait_for(f"(() => {{ const c = {images_js()}; return Object.keys(c).length >= {len(SEGMENTS)} && c; }})()",
                              what="3 charts in the v2 UI")
    assert sorted(charts) == [f"forecast chart {segment}" for segment in SEGMENTS]


def test_summary_links_open_the_segments_run_in_the_mlflow_ui(demo_run, browser):
    (summary,) = api(demo_run["api"], "/artifacts/filter", {"artifacts": {"key": {"any_": ["training-summary"]}}})
    links = re.findall(r"\[MLflow\]\((http://[^)]+)\)", summary["data"])
    assert len(links) == len(SEGMENTS) and all(link.startswith(f"{demo_run['mlflow_ui']}/#/experiments/") for link in links)
    assert f"[{demo_run['mlflow_ui']}/#/experiments/" in summary["data"]  # the "Where to look" links are links too
    browser.open(links[0])
    name = browser.wait_for("(() => { const t = document.body.innerText; const m = t.match(/product=Cards\\|region=[A-Z]+/); return m && m[0]; })()",
                            what="the segment's run page in the MLflow UI")
    assert name in SEGMENTS
