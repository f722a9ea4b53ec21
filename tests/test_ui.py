"""What a person sees in a browser after a demo-like training of the grouped sample, reconciled: on the
run's Artifacts tab of the Prefect UI (both the v1 and the v2 UI the server ships), the forecast charts
of the worst and best segments, the waterfall of the bridge from last year for the worst segments and
for the total, and the reconciled total with its children stacked; and summary links that open the
segment's run in the MLflow UI `forecast-flows server start` runs beside Prefect.

Needs Chromium: `make ui-check` and `.ci/run` install Debian's and set UI_CHECK_REQUIRED=1, under which
a missing browser fails the test with the reason instead of skipping it. Set UI_CHECK_SCREENSHOT=path to
keep the screenshot of the waterfalls on the Artifacts tab (docs/prefect-waterfall.png was made this way)."""

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

from forecasting.ops.charts import alt_text, ends
from forecasting.system.processes import alive

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "forecast-flows"
REQUIRED = os.environ.get("UI_CHECK_REQUIRED") == "1"
NO_BROWSER = "no Chromium installed (`make ui-check` and .ci/run install Debian's chromium)"
TOTAL = "state=<all>|zone=<all>"
# the demo's grouped sample and horizon, reconciled; two fast families and no deploy keep it short
TRAIN = ["train", "--data", str(ROOT / "examples/data/tourism_zones.csv"), "--segment-cols", "state,zone", "--reconcile", "auto",
         "--horizon", "8", "--models", "ets,theta", "--skip-deploy"]

pytestmark = [pytest.mark.slow, pytest.mark.skipif(chromium_binary() is None and not REQUIRED, reason=NO_BROWSER)]


def api(url: str, path: str, body: dict) -> list | dict:
    request = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def images_js(prefix: str) -> str:
    """The decoded images on the page whose alt text starts with ``prefix``, by alt text (naturalWidth 0:
    not decoded)."""
    return (f"Object.fromEntries(Array.from(document.querySelectorAll('img[alt^=\"{prefix}\"]'))"
            ".filter(i => i.complete && i.naturalWidth > 0).map(i => [i.alt, i.naturalWidth]))")


def charts_js(expected: int) -> str:
    """Every chart on the page by kind once ``expected`` of them are decoded, else false."""
    kinds = {"forecast": "forecast chart ", "bridge": "bridge chart ", "reconciled": "reconciled total chart "}
    found = ", ".join(f"{kind}: {images_js(prefix)}" for kind, prefix in kinds.items())
    return (f"(() => {{ const c = {{{found}}}; const n = Object.values(c).reduce((s, v) => s + Object.keys(v).length, 0); "
            f"return n >= {expected} && c; }})()")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A real Prefect server, the MLflow UI from `forecast-flows server start`, and the demo's grouped
    sample trained through `forecast-flows train --reconcile auto` (20 nodes)."""
    if chromium_binary() is None:  # only under UI_CHECK_REQUIRED (otherwise the module is skipped)
        pytest.fail(f"UI_CHECK_REQUIRED=1 and {NO_BROWSER}", pytrace=False)
    home = tmp_path_factory.mktemp("ui")
    server, prefect_api, env = start_prefect_server(home)
    env = {**env, "FORECAST_FLOWS_HOME": str(home / "state")}
    try:
        started = subprocess.run([str(BIN), "server", "start"], env=env, capture_output=True, text=True, timeout=180)
        assert started.returncode == 0, started.stderr
        mlflow_ui = re.search(r"MLflow UI: (http://127\.0\.0\.1:\d+)", started.stdout).group(1)
        train = subprocess.run([*[str(BIN)], *TRAIN, "--report", str(home / "report.json")], env=env, capture_output=True, text=True,
                               timeout=900)
        assert train.returncode == 0, train.stdout + train.stderr
        (run,) = api(prefect_api, "/flow_runs/filter", {"flows": {"name": {"any_": ["forecast-training"]}}})
        report = json.loads((home / "report.json").read_text())
        yield {"ui": prefect_api.removesuffix("/api"), "api": prefect_api, "run": run["id"], "mlflow_ui": mlflow_ui, "home": home,
               "report": report}
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


@pytest.fixture(scope="module")
def expected(demo_run):
    """The alt texts of the charts the run page must show: forecast charts of the worst and best 5 of
    the 20 nodes by backtest MASE, waterfalls of the worst 5 and of the total, the reconciled total."""
    rows = demo_run["report"]["segments"]
    assert len(rows) == 20 and all(row["status"] == "trained" for row in rows)
    worst, best = ends({row["segment"]: row["metric_value"] for row in rows})
    assert len(worst) == len(best) == 5
    return {"forecast": sorted(alt_text(key) for key in worst + best),
            "bridge": sorted([*(alt_text(key, "bridge") for key in worst), alt_text(f"total ({TOTAL})", "bridge")]),
            "reconciled": [alt_text(TOTAL, "reconciled total")]}


def test_the_artifacts_tab_shows_the_waterfalls_of_the_worst_segments_and_the_total(demo_run, browser, expected):
    count = sum(len(v) for v in expected.values())
    # the v1 UI: where the run's "View at" link goes; its tab must be clicked (the URL's tab is reset while the run loads)
    browser.open(f"{demo_run['ui']}/runs/flow-run/{demo_run['run']}")
    click_tab = "if (!location.search.includes('tab=Artifacts')) document.querySelector('#artifacts')?.click();"
    charts = browser.wait_for(f"(() => {{ {click_tab} return {charts_js(count)}; }})()", what=f"{count} charts on the Artifacts tab")
    assert {kind: sorted(found) for kind, found in charts.items()} == expected
    assert all(width >= 380 for found in charts.values() for width in found.values())
    cards = browser.evaluate("document.querySelector('.flow-run-artifacts').innerText")
    for text in ("forecast-charts", "bridges", "training-summary", "reconciliation", "worst 1 of 20", "the hierarchy's total node, reconciled",
                 f"total ({TOTAL})"):  # an aggregate's <all> shows (unescaped, markdown takes it for an HTML tag and drops it)
        assert text in cards
    # the screenshot: the total's waterfall in the middle of the view, the cards around it
    browser.evaluate(f"document.querySelector('img[alt=\"{alt_text(f'total ({TOTAL})', 'bridge')}\"]').scrollIntoView({{block: 'center'}})")
    shot = browser.screenshot(Path(os.environ.get("UI_CHECK_SCREENSHOT") or demo_run["home"] / "prefect-waterfall.png"))
    assert shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")

    # the v2 UI (the server's default at /): the tab is in the URL
    browser.open(f"{demo_run['ui']}/v2/runs/flow-run/{demo_run['run']}?tab=Artifacts")
    charts = browser.wait_for(charts_js(count), what=f"{count} charts in the v2 UI")
    assert {kind: sorted(found) for kind, found in charts.items()} == expected


def test_the_total_waterfall_page_has_the_bridge_with_its_reconciliation_step(demo_run, browser):
    (total,) = api(demo_run["api"], "/artifacts/filter", {"artifacts": {"key": {"any_": ["bridge-total"]}}})
    browser.open(f"{demo_run['ui']}/artifacts/artifact/{total['id']}")
    text = browser.wait_for("(() => { const t = document.body.innerText; return t.includes('the bridge from last year') && "
                            f"document.querySelector('img[alt=\"{alt_text(f'total ({TOTAL})', 'bridge')}\"]')?.naturalWidth > 0 && t; }})()",
                            what="the total's waterfall page")
    for step in ("last year (actual)", "trend", "season", "reconciliation", "forecast"):
        assert step in text


def test_summary_links_open_the_segments_run_in_the_mlflow_ui(demo_run, browser):
    (summary,) = api(demo_run["api"], "/artifacts/filter", {"artifacts": {"key": {"any_": ["training-summary"]}}})
    links = re.findall(r"\[MLflow\]\((http://[^)]+)\)", summary["data"])
    assert len(links) == 5 and all(link.startswith(f"{demo_run['mlflow_ui']}/#/experiments/") for link in links)  # the worst 5
    assert f"[{demo_run['mlflow_ui']}/#/experiments/" in summary["data"]  # the "Where to look" links are links too
    assert "**First forecast**: no previous vintage of these dates for any of the 20 segment(s)" in summary["data"]
    browser.open(links[0])
    name = browser.wait_for("(() => { const t = document.body.innerText; const m = t.match(/state=[A-Z<>a-z]+\\|zone=[A-Z<>a-z]+/); "
                            "return m && m[0]; })()", what="the segment's run page in the MLflow UI")
    assert name in {row["segment"] for row in demo_run["report"]["segments"]}
