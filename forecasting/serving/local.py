"""Local serving: `mlflow models serve --env-manager local` on loopback as a managed background process,
swapped blue-green (start the new version on a free port, smoke-test it over HTTP, switch, stop the old)."""

from __future__ import annotations

import http.client
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
    answer_mismatch,
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
        """The active endpoint, or None when nothing is deployed. An unreadable file is an error naming
        it: reading it as "nothing deployed" would orphan the server it recorded."""
        try:
            text = self.state_file.read_text()
        except FileNotFoundError:
            return None
        try:
            state = json.loads(text)
            missing = [k for k in ("model", "version", "url", "pid", "log") if k not in state]
            if missing:
                raise ValueError(f"no {', '.join(missing)}")
            int(state["pid"])
        except (ValueError, TypeError) as exc:
            raise DeployError(f"the local serving state file {self.state_file} is unreadable ({type(exc).__name__}: {str(exc)[:120]}); "
                              f"servers it recorded may still run: `forecast-flows serve stop` stops every server recorded in "
                              f"{self.root}, then deploy again") from None
        return state

    def _write(self, state: dict) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, self.state_file)  # readers see the old or the new endpoint, never half of one

    def _stop(self, server: dict, grace: float = 10.0) -> None:
        """Stop a server we started and forget its pid file."""
        stop_process(int(server["pid"]), grace=grace)
        if server.get("port"):
            (self.root / f"{server['port']}.pid").unlink(missing_ok=True)

    def _recorded_servers(self) -> list[tuple[Path, int]]:
        """Every server whose pid file is still here and that is still our `mlflow models serve`."""
        found = []
        for pid_file in sorted(self.root.glob("*.pid")):
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                continue
            if alive(pid) and _is_model_server(pid):
                found.append((pid_file, pid))
            else:
                pid_file.unlink(missing_ok=True)
        return found

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

    def _smoke(self, server: dict, example: pd.DataFrame | None, expected: pd.DataFrame | None) -> None:
        """The new server, before it is switched to, must answer ``example`` like the registered model."""
        if example is None or example.empty:
            return
        label = f"{server['model']} v{server['version']}"
        try:
            status, body = http_json(server["url"] + "/invocations", records_payload(example), timeout=60)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise DeployError(f"{label} did not answer its smoke request ({type(exc).__name__}: {exc}): {self._tail(server)}") from None
        if status != 200:
            raise DeployError(f"{label} failed its smoke request with HTTP {status}: {str(body)[:300]}")
        why = answer_mismatch(predictions_frame(body), expected)
        if why:
            raise DeployError(f"{label} answers the smoke request differently from the registered model: {why}")

    # --- interface -----------------------------------------------------------------------------
    def deploy(self, model_name: str, version: str, example: pd.DataFrame | None = None,
               expected: pd.DataFrame | None = None) -> EndpointStatus:
        """Blue-green: the old server keeps serving until the new one answered /ping and answered the
        smoke request like the registered model; on any failure before the switch the new one is
        stopped and the error says what still serves."""
        check_model_reference(model_name, version)
        old = self._read()
        new = self._start(model_name, version)
        try:
            self._wait_ready(new)
            self._smoke(new, example, expected)
            new["previous"] = {k: old[k] for k in ("model", "version")} if old else None
            self._write(new)
        except Exception as exc:
            self._stop(new, grace=2)
            what = str(exc) if isinstance(exc, DeployError) else f"deploying {model_name} v{version} failed: {type(exc).__name__}: {exc}"
            raise DeployError(f"{what}; {self._serving_now(old)}") from None
        if old and old.get("pid") != new["pid"]:
            time.sleep(self.config.drain_seconds)  # requests already sent to the old server finish
            self._stop(old)
        return self.status()

    def _serving_now(self, old: dict | None) -> str:
        if old is None:
            return "nothing was deployed before, so nothing serves"
        if self._ping(old):
            return f"{old['model']} v{old['version']} keeps serving at {old['url']}"
        return f"{old['model']} v{old['version']} is still the deployed version at {old['url']}, but it does not answer either"

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
        """Stop the active server and every other server recorded here (one a corrupt state file or an
        interrupted deploy lost track of), then forget the deployment."""
        try:
            state = self._read()
        except DeployError:
            state = None  # unreadable: the pid files still say what runs
        if state:
            self._stop(state)
        for pid_file, pid in self._recorded_servers():
            stop_process(pid)
            pid_file.unlink(missing_ok=True)
        self.state_file.unlink(missing_ok=True)


def _is_model_server(pid: int) -> bool:
    """Whether ``pid`` is still an `mlflow models serve` process (a pid file may outlive its process
    and the pid be reused); where the command line cannot be read, trust the pid file."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return True
    return "mlflow" in command and "serve" in command


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
