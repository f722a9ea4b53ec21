"""The workspace's serving endpoints, for `forecast-flows serve list` and `serve delete NAME`."""

from __future__ import annotations

from forecasting.serving.base import DeployError
from forecasting.serving.config import DeployConfig
from forecasting.serving.databricks import inference_table_of, workspace_client


def list_endpoints(config: DeployConfig | None = None, client=None) -> list[dict]:
    """Every serving endpoint of the workspace: name, state, what it serves, its inference table."""
    client = client or workspace_client(config or DeployConfig(target="databricks"))
    rows = []
    for endpoint in client.serving_endpoints.list():
        state = endpoint.state
        entities = list(getattr(endpoint.config, "served_entities", None) or []) if endpoint.config else []
        rows.append({
            "name": endpoint.name,
            "ready": getattr(getattr(state, "ready", None), "value", None),
            "config_update": getattr(getattr(state, "config_update", None), "value", None),
            "serving": ", ".join(f"{e.entity_name} v{e.entity_version}" for e in entities if getattr(e, "entity_name", None)),
            "inference_table": inference_table_of(endpoint),
        })
    return sorted(rows, key=lambda row: row["name"])


def delete_endpoint(name: str, config: DeployConfig | None = None, client=None) -> None:
    """Delete a serving endpoint; one that does not exist is an error naming it."""
    from databricks.sdk.errors import NotFound

    client = client or workspace_client(config or DeployConfig(target="databricks"))
    try:
        client.serving_endpoints.delete(name)
    except NotFound:
        raise DeployError(f"serving endpoint {name!r} does not exist") from None
