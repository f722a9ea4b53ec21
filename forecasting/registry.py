"""The model registry: one registered model per segment, explicit versions and aliases, cleanup.

Nothing here ever resolves "latest": Unity Catalog rejects it, and it races with other trainings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import mlflow
from mlflow.tracking import MlflowClient
from pydantic import BaseModel, Field, model_validator

from forecasting.contract import segment_slug
from forecasting.errors import ConfigError

CHALLENGER, CHAMPION = "challenger", "champion"
_UC_PART = re.compile(r"^[a-z0-9_]{1,255}$")
_WORKSPACE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,255}$")


class RegistryConfig(BaseModel):
    """Registered model names: ``{prefix}_{segment slug}``; in Unity Catalog
    ``{catalog}.{schema}.{prefix}_{segment slug}``."""

    model_prefix: str = Field("forecast", description="prefix of every registered model name")
    uc_catalog: str | None = Field(None, description="Unity Catalog catalog (with uc_schema)")
    uc_schema: str | None = None
    router_suffix: str = "router"

    @model_validator(mode="after")
    def _both_or_neither(self) -> "RegistryConfig":
        if bool(self.uc_catalog) != bool(self.uc_schema):
            raise ValueError("Unity Catalog needs both uc_catalog and uc_schema")
        if self.uc_catalog:
            for part in (self.uc_catalog, self.uc_schema, self.model_prefix):
                validate_uc_part(part)
        return self

    @property
    def unity_catalog(self) -> bool:
        return bool(self.uc_catalog)

    def name_for(self, segment_key: str) -> str:
        return self._qualify(f"{self.model_prefix}_{segment_slug(segment_key)}")

    def router_name(self) -> str:
        return self._qualify(f"{self.model_prefix}_{self.router_suffix}")

    def _qualify(self, leaf: str) -> str:
        name = f"{self.uc_catalog}.{self.uc_schema}.{leaf.lower()}" if self.unity_catalog else leaf
        validate_model_name(name, self.unity_catalog)
        return name


def validate_uc_part(part: str) -> None:
    if not _UC_PART.match(part or ""):
        raise ConfigError(f"Unity Catalog name part {part!r} must be lowercase letters, digits and underscores")


def validate_model_name(name: str, unity_catalog: bool) -> None:
    """Checked before anything is uploaded, so a bad name never leaves a half-registered model."""
    if unity_catalog:
        parts = name.split(".")
        if len(parts) != 3:
            raise ConfigError(f"Unity Catalog model name {name!r} must be three-level catalog.schema.model")
        for part in parts:
            validate_uc_part(part)
    elif not _WORKSPACE_NAME.match(name):
        raise ConfigError(f"registered model name {name!r} may use letters, digits, '_', '.', '-' only")


@dataclass
class RegisteredVersion:
    name: str
    version: str
    reused: bool = False

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def find_version_for_run(client: MlflowClient, name: str, run_id: str) -> str | None:
    """The version of ``name`` that was registered from ``run_id``, if any."""
    for version in client.search_model_versions(f"name='{name}'"):
        if version.run_id == run_id:
            return str(version.version)
    return None


def register(client: MlflowClient, name: str, model_uri: str, run_id: str, tags: dict[str, str]) -> RegisteredVersion:
    """Register the run's model as a new version of ``name`` with ``tags``; registering the same run
    twice returns the existing version."""
    try:
        existing = find_version_for_run(client, name, run_id)
    except mlflow.exceptions.MlflowException:
        existing = None  # the registered model does not exist yet
    if existing is not None:
        return RegisteredVersion(name, existing, reused=True)
    version = mlflow.register_model(model_uri, name, tags={k: str(v) for k, v in tags.items()})
    return RegisteredVersion(name, str(version.version))


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    client.set_registered_model_alias(name, alias, version)


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """Which version carries ``alias`` now (None when the alias or the model does not exist)."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException:
        return None


def tag_version(client: MlflowClient, name: str, version: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value))


def cleanup(client: MlflowClient, name: str, keep: int = 5, dry_run: bool = True) -> list[dict]:
    """Delete all but the newest ``keep`` versions of ``name``; a version carrying an alias is never
    deleted. Dry run by default: returns what would happen."""
    if keep < 1:
        raise ConfigError("cleanup keeps at least one version")
    aliased: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(name).aliases.items():
        aliased.setdefault(str(version), []).append(alias)
    versions = sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version), reverse=True)
    plan = []
    for rank, version in enumerate(versions):
        v = str(version.version)
        if rank < keep:
            action, why = "keep", "newest"
        elif v in aliased:
            action, why = "keep", f"alias {', '.join(sorted(aliased[v]))}"
        else:
            action, why = ("would delete" if dry_run else "deleted"), f"older than the newest {keep}"
            if not dry_run:
                client.delete_model_version(name, v)
        plan.append({"name": name, "version": v, "action": action, "reason": why})
    return plan


def registered_models(client: MlflowClient, config: RegistryConfig, include_router: bool = False) -> list[str]:
    """Names of the registered models under the configured prefix (segment models; the router too
    when asked), sorted."""
    prefix = config.router_name()[: -len(config.router_suffix)]
    names, token = [], None
    while True:
        page = client.search_registered_models(filter_string=f"name LIKE '{prefix}%'", max_results=1000, page_token=token)
        names += [m.name for m in page if m.name.startswith(prefix)]
        token = page.token
        if not token:
            break
    router = config.router_name()
    return sorted(n for n in set(names) if include_router or n != router)
