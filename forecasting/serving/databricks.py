"""Databricks Model Serving through databricks-sdk.

Auth comes from the environment (DATABRICKS_HOST/DATABRICKS_TOKEN, ...) or a ~/.databrickscfg profile;
the token is never logged, tagged or written anywhere by this module. Only ``NotFound`` on the endpoint
lookup leads to a create: any other error (auth, network) is raised as it is.
"""

from __future__ import annotations

import json
import time

import pandas as pd

from forecasting.serving.base import (
    DeployError,
    DeploymentTarget,
    EndpointStatus,
    answer_mismatch,
    check_model_reference,
)
from forecasting.serving.config import DeployConfig
from forecasting.serving.local import records_payload
from forecasting.system.state import state_dir


def workspace_client(config: DeployConfig, retry_timeout_seconds: int | None = None):
    """A client authenticated from the environment or the configured profile (the same resolution as
    Unity Catalog tables: :func:`forecasting.system.databricks.workspace_client`). ``retry_timeout_seconds``
    bounds the SDK's retries (its default budget is 300 s) for quick checks such as health."""
    from forecasting.system.databricks import workspace_client as client_for

    return client_for(config.databricks_profile, retry_timeout_seconds)


def _answered(exc: Exception) -> bool:
    """Whether the workspace answered the call with an error (so it was not applied), as opposed to a
    connection failure or timeout, after which the call may or may not have been applied."""
    from databricks.sdk.errors import DatabricksError

    return isinstance(exc, DatabricksError)


def entity_name(model_name: str, version: str) -> str:
    """Served entity names: letters, digits, '-' and '_' (the UC name's last part plus the version)."""
    leaf = model_name.split(".")[-1]
    return f"{leaf}-{version}".replace("_", "-")[:63]


class DatabricksTarget(DeploymentTarget):
    name = "databricks"

    def __init__(self, config: DeployConfig | None = None, client=None):
        self.config = config or DeployConfig(target="databricks")
        self.client = client or workspace_client(self.config)
        self.endpoint = self.config.endpoint_name

    # --- endpoint state ------------------------------------------------------------------------
    def _get(self):
        """The endpoint, or None when it does not exist. Anything but NotFound propagates."""
        from databricks.sdk.errors import NotFound

        try:
            return self.client.serving_endpoints.get(self.endpoint)
        except NotFound:
            return None

    @staticmethod
    def _entities(endpoint) -> list:
        config = getattr(endpoint, "config", None) if endpoint else None
        return list(getattr(config, "served_entities", None) or [])

    def _state(self) -> tuple[str, str]:
        state = self.client.serving_endpoints.get(self.endpoint).state
        return getattr(state.config_update, "value", str(state.config_update)), getattr(state.ready, "value", str(state.ready))

    def _wait_ready(self, timeout: float) -> None:
        """The SDK's waiter only waits for the config update; an endpoint is usable when READY."""
        deadline = time.monotonic() + timeout
        while True:
            update, ready = self._state()
            if update in ("UPDATE_FAILED", "UPDATE_CANCELED"):
                raise DeployError(f"endpoint {self.endpoint!r}: configuration update ended in {update}")
            if update == "NOT_UPDATING" and ready == "READY":
                return
            if time.monotonic() >= deadline:
                raise DeployError(f"endpoint {self.endpoint!r} was not READY after {timeout:.0f}s (config_update={update}, ready={ready})")
            time.sleep(self.config.poll_seconds)

    def _wait_settled(self, timeout: float) -> None:
        """Until no configuration update is in flight: the endpoint takes one update at a time."""
        deadline = time.monotonic() + timeout
        while self._state()[0] == "IN_PROGRESS":
            if time.monotonic() >= deadline:
                raise DeployError(f"endpoint {self.endpoint!r}: a configuration update was still in progress after {timeout:.0f}s")
            time.sleep(self.config.poll_seconds)

    def _served_input(self, model_name: str, version: str):
        from databricks.sdk.service.serving import ServedEntityInput

        return ServedEntityInput(
            name=entity_name(model_name, version),
            entity_name=model_name,
            entity_version=str(version),
            workload_size=self.config.workload_size,
            scale_to_zero_enabled=self.config.scale_to_zero,
        )

    def _as_input(self, entity):
        from databricks.sdk.service.serving import ServedEntityInput

        return ServedEntityInput(
            name=entity.name,
            entity_name=entity.entity_name,
            entity_version=str(entity.entity_version),
            workload_size=getattr(entity, "workload_size", None) or self.config.workload_size,
            scale_to_zero_enabled=bool(getattr(entity, "scale_to_zero_enabled", self.config.scale_to_zero)),
        )

    def _traffic(self, routes: list[tuple[str, int]]):
        from databricks.sdk.service.serving import Route, TrafficConfig

        return TrafficConfig(routes=[Route(served_entity_name=name, traffic_percentage=pct) for name, pct in routes])

    # --- interface -----------------------------------------------------------------------------
    def deploy(self, model_name: str, version: str, example: pd.DataFrame | None = None,
               expected: pd.DataFrame | None = None) -> EndpointStatus:
        """Create or update the endpoint, wait until READY, and query it with ``example``: its answer must
        equal ``expected`` before the deploy counts as done. On any failure from the update on (an SDK
        or HTTP error, UPDATE_FAILED, a timeout, a wrong answer) the previous configuration is put back."""
        from databricks.sdk.service.serving import EndpointCoreConfigInput

        check_model_reference(model_name, version)
        current = self._get()
        previous, previous_routes = self._entities(current), self._routes(current)
        new = self._served_input(model_name, version)
        entities, routes = [new], [(new.name, 100)]
        challenger_pct = self.config.challenger_traffic_percent
        old = next((e for e in previous if e.name != new.name), None)
        if old is not None and challenger_pct:
            entities.append(self._as_input(old))
            routes = [(new.name, 100 - challenger_pct), (old.name, challenger_pct)]
        swapping = False
        try:
            if current is None:
                self.client.serving_endpoints.create(self.endpoint, config=EndpointCoreConfigInput(name=self.endpoint, served_entities=entities, traffic_config=self._traffic(routes)),
                                                     ai_gateway=self._ai_gateway())
            else:
                self.client.serving_endpoints.update_config(self.endpoint, served_entities=entities, traffic_config=self._traffic(routes))
            swapping = True
            self._wait_ready(self.config.databricks_ready_timeout_seconds)
            self._smoke(model_name, version, example, expected)
        except Exception as exc:
            what = str(exc) if isinstance(exc, DeployError) else f"endpoint {self.endpoint!r}: deploying {model_name} v{version} failed: {type(exc).__name__}: {exc}"
            if not swapping and _answered(exc):  # the workspace refused the create/update: nothing changed
                after = (f"the update was refused, so {previous[0].entity_name} v{previous[0].entity_version} still serves" if previous
                         else "the endpoint was not created, so nothing serves")
            elif previous:
                after = self._roll_back_to(previous, previous_routes)
            else:
                after = (f"there was no previous configuration to roll back to: the endpoint holds {model_name} v{version}, which failed; "
                         "fix it and deploy again, or delete the endpoint")
            raise DeployError(f"{what}; {after}") from None
        if current is not None:  # the new version serves; the inference table follows the configuration
            self._ensure_inference_table()
        self._remember({"model": model_name, "version": str(version), "previous": [self._describe(e) for e in previous]})
        return self.status()

    def _smoke(self, model_name: str, version: str, example: pd.DataFrame | None, expected: pd.DataFrame | None) -> None:
        if example is None or example.empty:
            return
        why = answer_mismatch(self.predict(example), expected)
        if why:
            raise DeployError(f"endpoint {self.endpoint!r} serving {model_name} v{version} answers the smoke request differently "
                              f"from the registered model: {why}")

    @staticmethod
    def _routes(endpoint) -> list[tuple[str, int]]:
        config = getattr(endpoint, "config", None) if endpoint else None
        traffic = getattr(config, "traffic_config", None)
        return [(r.served_entity_name, int(r.traffic_percentage)) for r in (getattr(traffic, "routes", None) or [])]

    def _roll_back_to(self, previous: list, routes: list[tuple[str, int]] | None = None) -> str:
        """Put the previous served entities and traffic back; says what serves now."""
        if not previous:
            return "there was no previous configuration to roll back to"
        inputs = [self._as_input(e) for e in previous]
        label = f"{inputs[0].entity_name} v{inputs[0].entity_version}"
        timeout = self.config.databricks_ready_timeout_seconds
        try:
            self._wait_settled(timeout)
            self.client.serving_endpoints.update_config(self.endpoint, served_entities=inputs,
                                                        traffic_config=self._traffic(routes or [(inputs[0].name, 100)]))
        except Exception as exc:
            return f"rolling back to {label} failed ({type(exc).__name__}: {exc}): check what the endpoint serves"
        try:
            self._wait_ready(timeout)
        except Exception as exc:
            return f"rolled back to {label}, which is not ready either ({type(exc).__name__}: {exc})"
        return f"rolled back to {label}, which serves again"

    # --- AI Gateway inference table ------------------------------------------------------------
    def _inference_table(self):
        from databricks.sdk.service.serving import AiGatewayInferenceTableConfig

        catalog, schema, prefix = self.config.inference_table.split(".")
        return AiGatewayInferenceTableConfig(catalog_name=catalog, schema_name=schema, table_name_prefix=prefix, enabled=True)

    def _ai_gateway(self):
        """The AI Gateway of a new endpoint: its inference table when one is configured (the older
        auto-capture inference tables are retired)."""
        from databricks.sdk.service.serving import AiGatewayConfig

        return AiGatewayConfig(inference_table_config=self._inference_table()) if self.config.inference_table else None

    def _ensure_inference_table(self) -> None:
        """An existing endpoint logs to the configured inference table. Databricks refuses to change the
        catalog, schema or prefix of an enabled table, so a different one is disabled first; the rest of
        the AI Gateway (rate limits, guardrails, usage tracking) is kept as it is."""
        if not self.config.inference_table:
            return
        wanted = self._inference_table()
        gateway = getattr(self.client.serving_endpoints.get(self.endpoint), "ai_gateway", None)
        current = getattr(gateway, "inference_table_config", None)
        where = lambda c: (c.catalog_name, c.schema_name, c.table_name_prefix)  # noqa: E731
        if current is not None and current.enabled and where(current) == where(wanted):
            return
        keep = {k: getattr(gateway, k, None) for k in ("fallback_config", "guardrails", "rate_limits", "usage_tracking_config")}
        try:
            if current is not None and current.enabled:
                from databricks.sdk.service.serving import AiGatewayInferenceTableConfig

                self.client.serving_endpoints.put_ai_gateway(self.endpoint, inference_table_config=AiGatewayInferenceTableConfig(enabled=False), **keep)
            self.client.serving_endpoints.put_ai_gateway(self.endpoint, inference_table_config=wanted, **keep)
        except Exception as exc:
            raise DeployError(f"endpoint {self.endpoint!r} serves the new version, but its inference table {self.config.inference_table} "
                              f"could not be set: {type(exc).__name__}: {exc}") from None

    @staticmethod
    def _describe(entity) -> dict:
        return {"name": entity.name, "entity_name": entity.entity_name, "entity_version": str(entity.entity_version)}

    def _memory_file(self):
        return state_dir() / "serving" / f"databricks-{self.endpoint}.json"

    def _remember(self, record: dict) -> None:
        path = self._memory_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record))

    def status(self) -> EndpointStatus:
        endpoint = self._get()
        if endpoint is None:
            return EndpointStatus("databricks", False, detail=f"endpoint {self.endpoint!r} does not exist")
        entities = self._entities(endpoint)
        state = endpoint.state
        ready = getattr(state.ready, "value", str(state.ready)) == "READY"
        detail = f"config_update={getattr(state.config_update, 'value', state.config_update)}"
        url = f"{self.client.config.host.rstrip('/')}/serving-endpoints/{self.endpoint}/invocations"
        first = entities[0] if entities else None
        return EndpointStatus("databricks", ready, url, getattr(first, "entity_name", None), str(getattr(first, "entity_version", "")) or None, detail,
                              {"inference_table": inference_table_of(endpoint)})

    def predict(self, frame: pd.DataFrame, timeout: float = 30.0) -> pd.DataFrame:
        response = self.client.serving_endpoints.query(self.endpoint, dataframe_records=records_payload(frame)["dataframe_records"])
        return pd.DataFrame(response.predictions)

    def rollback(self) -> EndpointStatus:
        try:
            record = json.loads(self._memory_file().read_text())
        except FileNotFoundError:
            record = {}
        previous = record.get("previous") or []
        if not previous:
            raise DeployError(f"endpoint {self.endpoint!r}: no previous configuration is known to roll back to")
        first = previous[0]
        return self.deploy(first["entity_name"], first["entity_version"])

    def undeploy(self) -> None:
        self.client.serving_endpoints.delete(self.endpoint)


def inference_table_of(endpoint) -> str | None:
    """``catalog.schema.prefix`` of an endpoint's enabled AI Gateway inference table, else None."""
    table = getattr(getattr(endpoint, "ai_gateway", None), "inference_table_config", None)
    if table is None or not table.enabled:
        return None
    return f"{table.catalog_name}.{table.schema_name}.{table.table_name_prefix}"
