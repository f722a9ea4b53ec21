"""Local serving: `mlflow models serve --env-manager local` on loopback as a managed background process,
swapped blue-green (start the new version on a free port, smoke-test it over HTTP, switch, stop the old)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd

from forecasting.mlops.config import TrackingConfig
from forecasting.serving.base import (
    DeployError,
    DeploymentTarget,
    EndpointStatus,
    check_model_reference,
)
from forecasting.serving.config import DeployConfig
from forecasting.system.processes import alive, free_port, stop_process
from forecasting.system.state import state_dir

MAX_LOG_TAIL = 600


def http_json(url: str, payload: dict | None = None, timeout: float = 30.0) -> tuple[int, object]:
    """POST (or GET without payload) JSON; returns (status, parsed body or text), never raises on 4xx/5xx."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as err:
        body, status = err.read().decode(errors="replace"), err.code
    try:
        return status, json.loads(body) if body else None
    except json.JSONDecodeError:
        return status, body


def records_payload(frame: pd.DataFrame) -> dict:
    """The body `/invocations` expects: ``dataframe_records``, with NaN sent as null."""
    clean = frame.astype(object).where(frame.notna(), None)
    return {"dataframe_records": clean.to_dict(orient="records")}


def predictions_frame(body: object) -> pd.DataFrame:
    rows = body.get("predictions", body) if isinstance(body, dict) else body
    return pd.DataFrame(rows)


class LocalTarget(DeploymentTarget):
    name = "local"

    def __init__(self, config: DeployConfig | None = None, tracking: TrackingConfig | None = None):
        self.config = config or DeployConfig()
        self.tracking = tracking or TrackingConfig()
        self.root = state_dir() / "serving"
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_file = self.root / "active.json"

    # --- state ---------------------------------------------------------------------------------
    def _read(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _write(self, state: dict) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, self.state_file)  # readers see the old or the new endpoint, never half of one

    # --- processes -----------------------------------------------------------------------------
    def _start(self, model_name: str, version: str) -> dict:
        port = self.config.port if self.config.port and not self._read() else free_port(self.config.host)
        log = self.root / f"{_safe(model_name)}-v{version}-{port}.log"
        bin_dir = str(Path(sys.executable).parent)
        env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),  # uvicorn from this venv
               "MLFLOW_TRACKING_URI": self.tracking.resolved_tracking_uri()}
        if self.tracking.resolved_registry_uri():
            env["MLFLOW_REGISTRY_URI"] = self.tracking.resolved_registry_uri()
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, "1")
        command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{model_name}/{version}",
                   "--env-manager", "local", "-h", self.config.host, "-p", str(port), "--workers", "1"]
        with open(log, "ab") as handle:
            process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        (self.root / f"{port}.pid").write_text(str(process.pid))
        return {"model": model_name, "version": str(version), "port": port, "pid": process.pid,
                "url": f"http://{self.config.host}:{port}", "log": str(log), "started_at": time.time(),
                "tracking_uri": env["MLFLOW_TRACKING_URI"], "registry_uri": env.get("MLFLOW_REGISTRY_URI")}

    def _wait_ready(self, server: dict) -> None:
        deadline = time.monotonic() + self.config.ready_timeout_seconds
        while time.monotonic() < deadline:
            if not alive(server["pid"]):
                raise DeployError(f"the server for {server['model']} v{server['version']} exited during start-up: {self._tail(server)}")
            try:
                status, _ = http_json(server["url"] + "/ping", timeout=2)
                if status == 200:
                    return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise DeployError(f"{server['model']} v{server['version']} did not answer /ping within {self.config.ready_timeout_seconds:.0f}s: {self._tail(server)}")

    def _tail(self, server: dict) -> str:
        try:
            text = Path(server["log"]).read_text(errors="replace")
        except OSError:
            return "(no log)"
        lines = [line for line in text.strip().splitlines() if line.strip()]
        return " / ".join(lines[-3:])[-MAX_LOG_TAIL:] + f" (log: {server['log']})"

    def _smoke(self, server: dict, example: pd.DataFrame | None) -> None:
        if example is None or example.empty:
            return
        status, body = http_json(server["url"] + "/invocations", records_payload(example), timeout=60)
        if status != 200:
            raise DeployError(f"{server['model']} v{server['version']} failed its smoke request with HTTP {status}: {str(body)[:300]}")
        answer = predictions_frame(body)
        if len(answer) != len(example) or not {"yhat", "yhat_lower", "yhat_upper"} <= set(answer.columns):
            raise DeployError(f"{server['model']} v{server['version']} answered the smoke request with {len(answer)} rows and columns {list(answer.columns)}")

    # --- interface -----------------------------------------------------------------------------
    def deploy(self, model_name: str, version: str, example: pd.DataFrame | None = None) -> EndpointStatus:
        """Blue-green: the old server keeps serving until the new one answered /ping and the smoke request."""
        check_model_reference(model_name, version)
        old = self._read()
        new = self._start(model_name, version)
        try:
            self._wait_ready(new)
            self._smoke(new, example)
        except DeployError as exc:
            stop_process(new["pid"], grace=2)
            keeps = f"; {old['model']} v{old['version']} keeps serving at {old['url']}" if old and self._ping(old) else ""
            raise DeployError(f"{exc}{keeps}") from None
        new["previous"] = {k: old[k] for k in ("model", "version")} if old else None
        self._write(new)
        if old and old.get("pid") != new["pid"]:
            time.sleep(self.config.drain_seconds)  # requests already sent to the old server finish
            stop_process(old["pid"])
        return self.status()

    def _ping(self, server: dict) -> bool:
        try:
            return alive(server["pid"]) and http_json(server["url"] + "/ping", timeout=2)[0] == 200
        except (urllib.error.URLError, OSError):
            return False

    def status(self) -> EndpointStatus:
        state = self._read()
        if not state:
            return EndpointStatus("local", False, detail="nothing deployed")
        ready = self._ping(state)
        detail = f"pid {state['pid']}, log {state['log']}" if ready else f"not answering (pid {state['pid']}): {self._tail(state)}"
        extra = {"pid": state["pid"], "previous": state.get("previous"), "tracking_uri": state.get("tracking_uri"), "registry_uri": state.get("registry_uri")}
        return EndpointStatus("local", ready, state["url"], state["model"], state["version"], detail, extra)

    def predict(self, frame: pd.DataFrame, timeout: float = 30.0) -> pd.DataFrame:
        state = self._read()
        if not state:
            raise DeployError("nothing is deployed locally: run a training without --skip-deploy first")
        status, body = http_json(state["url"] + "/invocations", records_payload(frame), timeout=timeout)
        if status != 200:
            message = body.get("message", body) if isinstance(body, dict) else body
            raise DeployError(f"the endpoint answered HTTP {status}: {str(message)[:500]}")
        return predictions_frame(body)

    def rollback(self) -> EndpointStatus:
        state = self._read()
        previous = (state or {}).get("previous")
        if not previous:
            raise DeployError("there is no previous local deployment to roll back to")
        return self.deploy(previous["model"], previous["version"])

    def undeploy(self) -> None:
        state = self._read()
        if state:
            stop_process(state["pid"])
        self.state_file.unlink(missing_ok=True)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
