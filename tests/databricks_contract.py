"""A small HTTP server that speaks the subset of the Databricks REST API our Databricks target and the
CLI use: serving endpoints (list, create — with an AI Gateway —, get, update config, put AI Gateway,
delete, invocations — model and chat), host metadata and current user, and the SQL Statement Execution
API on a stand-in warehouse (``server.sql``: tests/databricks_sql.py) for Unity Catalog tables.

This is a contract test of OUR READING of the API, not Databricks itself. Faults can be injected:
throttling/unavailable answers, a configuration update that fails, an endpoint that never gets READY,
server errors while an update is being polled, a served version that answers wrongly or fails.

Invocations are answered by the served entity with the most traffic: by ``predict_with(entity_name,
entity_version, records)`` when set (e.g. :func:`mlflow_predictor`, the registered model's real
prediction), else a constant ``yhat = 1.0``. An update while another is in progress is refused with
409 RESOURCE_CONFLICT (what we assume Databricks does: one configuration update at a time).
"""

from __future__ import annotations

import copy
import functools
import http.server
import json
import re
import threading

from databricks_sql import StatementExecution


class ContractServer:
    def __init__(self, ready_after_polls: int = 2):
        self.endpoints: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.inject: list[tuple[str, int]] = []  # (path fragment, status) answered once each, in order
        self.fail_next_update = False
        self.never_ready = False
        self.forbid_lookup = False
        self.ready_after_polls = ready_after_polls
        self.chat_reply = lambda body: "Summary."  # what a chat endpoint answers, given the request body
        self.predict_with = None  # (entity_name, entity_version, records) -> predictions; None: yhat = 1.0
        self.wrong_versions: set[str] = set()  # served versions whose answers are off by +1000
        self.failing_versions: set[str] = set()  # served versions whose invocations answer 500
        self.fail_polls_while_updating = 0  # GETs of an endpoint with an update pending that answer 500
        self.lock = threading.Lock()
        self.sql = StatementExecution()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, body: dict | None = None, headers: dict | None = None):
                payload = json.dumps(body or {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _raw(self, status: int, payload: bytes, headers: dict):
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                sql = server.sql.route(self.command, self.path.split("?")[0] if "/external-results/" not in self.path else self.path,
                                       body, f"http://{self.headers['Host']}", dict(self.headers))
                if sql is not None:
                    with server.lock:
                        server.requests.append({"method": self.command, "path": self.path, "body": body, "headers": dict(self.headers)})
                    return self._raw(sql[0], sql[1], sql[2]) if len(sql) == 3 else self._reply(*sql)
                with server.lock:
                    server.requests.append({"method": self.command, "path": self.path, "body": body, "headers": dict(self.headers)})
                    for i, (fragment, status) in enumerate(server.inject):
                        if fragment in self.path:
                            server.inject.pop(i)
                            code = {429: "REQUEST_LIMIT_EXCEEDED", 503: "TEMPORARILY_UNAVAILABLE"}.get(status, "INTERNAL_ERROR")
                            return self._reply(status, {"error_code": code, "message": "injected"}, {"Retry-After": "1"} if status == 429 else None)
                    status, answer = server.route(self.command, self.path, body, f"http://{self.headers['Host']}")
                return self._reply(status, answer)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()

    # --- the API -------------------------------------------------------------------------------
    def route(self, method: str, path: str, body: dict, base: str):
        path = path.split("?")[0]
        if path == "/.well-known/databricks-config":
            return 200, {"oidc_endpoint": f"{base}/oidc", "workspace_id": "1234567890"}
        if path == "/api/2.0/preview/scim/v2/Me":
            return 200, {"id": "42", "userName": "contract-test@example.com"}
        if method == "GET" and path == "/api/2.0/serving-endpoints":
            return 200, {"endpoints": [self.view(name) for name in self.endpoints]}
        if method == "POST" and path == "/api/2.0/serving-endpoints":
            if body["name"] in self.endpoints:
                return 400, {"error_code": "RESOURCE_ALREADY_EXISTS", "message": f"Endpoint {body['name']} already exists"}
            self.endpoints[body["name"]] = {"name": body["name"], "config": {}, "pending": body["config"], "polls": 0,
                                            "state": {"ready": "NOT_READY", "config_update": "IN_PROGRESS"},
                                            "ai_gateway": body.get("ai_gateway")}
            return 200, self.view(body["name"])
        match = re.fullmatch(r"/api/2.0/serving-endpoints/([^/]+)/ai-gateway", path)
        if match and method == "PUT":
            return self.put_ai_gateway(match.group(1), body)
        match = re.fullmatch(r"/api/2.0/serving-endpoints/([^/]+)(/config)?", path)
        if match:
            name = match.group(1)
            if self.forbid_lookup:
                return 403, {"error_code": "PERMISSION_DENIED", "message": "token lacks permission"}
            if name not in self.endpoints:
                return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"Serving endpoint {name} does not exist"}
            endpoint = self.endpoints[name]
            if method == "PUT" and match.group(2):
                if endpoint["pending"] is not None:
                    return 409, {"error_code": "RESOURCE_CONFLICT", "message": f"Endpoint {name} is currently being updated"}
                endpoint.update(pending=body, polls=0)
                endpoint["state"]["config_update"] = "IN_PROGRESS"
                return 200, self.view(name)
            if method == "DELETE":
                del self.endpoints[name]
                return 200, {}
            if endpoint["pending"] is not None and self.fail_polls_while_updating > 0:
                self.fail_polls_while_updating -= 1
                return 500, {"error_code": "INTERNAL_ERROR", "message": "injected server error while updating"}
            self.advance(endpoint)
            return 200, self.view(name)
        match = re.fullmatch(r"/serving-endpoints/([^/]+)/invocations", path)
        if match and method == "POST":
            if "messages" in body:  # a chat model (foundation-model endpoint), OpenAI-style answer
                return 200, {"id": "chat-1", "object": "chat.completion", "model": match.group(1),
                             "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": self.chat_reply(body)}}]}
            records = body.get("dataframe_records")
            if records is None:
                return 400, {"error_code": "BAD_REQUEST", "message": "expected dataframe_records"}
            return self.invoke(match.group(1), records)
        return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"no route for {method} {path}"}

    def served(self, name: str) -> dict | None:
        """The served entity that takes the most traffic (what answers a query)."""
        config = self.endpoints.get(name, {}).get("config") or {}
        entities = {e["name"]: e for e in config.get("served_entities", [])}
        routes = sorted((config.get("traffic_config") or {}).get("routes", []), key=lambda r: -r["traffic_percentage"])
        return entities.get(routes[0]["served_entity_name"]) if routes else next(iter(entities.values()), None)

    def invoke(self, name: str, records: list[dict]):
        entity = self.served(name)
        if entity is None:
            return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"endpoint {name} serves nothing"}
        version = str(entity["entity_version"])
        if version in self.failing_versions:
            return 500, {"error_code": "INTERNAL_ERROR", "message": f"injected: served version {version} failed"}
        if self.predict_with is None:
            predictions = [{**row, "yhat": 1.0, "yhat_lower": 0.5, "yhat_upper": 1.5} for row in records]
        else:
            predictions = self.predict_with(entity["entity_name"], version, records)
        if version in self.wrong_versions:
            predictions = [{**p, **{k: p[k] + 1000 for k in ("yhat", "yhat_lower", "yhat_upper") if k in p}} for p in predictions]
        return 200, {"predictions": predictions}

    def put_ai_gateway(self, name: str, body: dict):
        """Databricks refuses to change the catalog, schema or table prefix of an enabled inference table:
        it must be disabled first (documented on AiGatewayInferenceTableConfig)."""
        if name not in self.endpoints:
            return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"Serving endpoint {name} does not exist"}
        endpoint = self.endpoints[name]
        current = (endpoint.get("ai_gateway") or {}).get("inference_table_config") or {}
        wanted = body.get("inference_table_config") or {}
        where = lambda c: (c.get("catalog_name"), c.get("schema_name"), c.get("table_name_prefix"))  # noqa: E731
        if current.get("enabled") and wanted.get("enabled") and where(current) != where(wanted):
            return 400, {"error_code": "INVALID_PARAMETER_VALUE",
                         "message": "Inference table catalog, schema and prefix cannot be changed while it is enabled; disable it first"}
        if wanted and not wanted.get("enabled"):
            wanted = {**current, "enabled": False}
        endpoint["ai_gateway"] = {**body, "inference_table_config": wanted} if wanted else dict(body)
        return 200, copy.deepcopy(endpoint["ai_gateway"])

    def advance(self, endpoint: dict) -> None:
        """Each GET moves an update along: after ``ready_after_polls`` it is applied (or fails)."""
        if endpoint["pending"] is None:
            return
        endpoint["polls"] += 1
        if endpoint["polls"] < self.ready_after_polls:
            return
        if self.fail_next_update:
            self.fail_next_update = False
            endpoint.update(pending=None)
            endpoint["state"]["config_update"] = "UPDATE_FAILED"
            return
        endpoint.update(config=copy.deepcopy(endpoint["pending"]), pending=None)
        endpoint["state"] = {"config_update": "NOT_UPDATING", "ready": "NOT_READY" if self.never_ready else "READY"}

    def view(self, name: str) -> dict:
        endpoint = self.endpoints[name]
        view = {"name": name, "state": dict(endpoint["state"]), "config": copy.deepcopy(endpoint["config"]),
                "pending_config": copy.deepcopy(endpoint["pending"]) if endpoint["pending"] else None}
        if endpoint.get("ai_gateway"):
            view["ai_gateway"] = copy.deepcopy(endpoint["ai_gateway"])
        return view

    def calls(self, method: str, fragment: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method and fragment in r["path"]]


def mlflow_predictor():
    """Answer like Model Serving does: load ``models:/<entity_name>/<entity_version>`` from the MLflow
    registry this process is connected to and predict the records."""
    import mlflow
    import pandas as pd

    @functools.lru_cache(maxsize=16)
    def model(name: str, version: str):
        return mlflow.pyfunc.load_model(f"models:/{name}/{version}")

    def predict(name: str, version: str, records: list[dict]) -> list[dict]:
        answer = pd.DataFrame(model(name, version).predict(pd.DataFrame(records)))
        return json.loads(answer.to_json(orient="records", date_format="iso"))

    return predict
