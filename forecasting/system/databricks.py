"""The Databricks workspace client every Databricks feature shares (Model Serving, Unity Catalog tables
through a SQL warehouse): authenticated from the environment (DATABRICKS_HOST and DATABRICKS_TOKEN, or
OAuth variables) or a ~/.databrickscfg profile, as databricks-sdk resolves them. The token is never
logged or written by this project."""

from __future__ import annotations


def workspace_client(profile: str | None = None, retry_timeout_seconds: int | None = None):
    """A client for the workspace the environment or ``profile`` names. ``retry_timeout_seconds``
    bounds the SDK's retries (its default budget is 300 s) for quick checks."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    kwargs = {"profile": profile} if profile else {}
    if retry_timeout_seconds is not None:
        kwargs.update(retry_timeout_seconds=retry_timeout_seconds, http_timeout_seconds=retry_timeout_seconds)
    return WorkspaceClient(config=Config(**kwargs))
