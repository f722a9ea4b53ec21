"""The model registry: one registered model per segment, explicit versions and aliases, cleanup.

Nothing here ever resolves "latest": Unity Catalog rejects it, and it races with other trainings.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
from mlflow.tracking import MlflowClient

from forecasting.errors import ConfigError
from forecasting.mlops.config import RegistryConfig

CHALLENGER, CHAMPION = "challenger", "champion"


@dataclass
class RegisteredVersion:
    name: str
    version: str
    reused: bool = False

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


TRAINING_KEY = "training_key"
_MISSING_CODES = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}


def does_not_exist(exc: Exception) -> bool:
    """True when the registry said the model, version or alias does not exist; False for anything
    else (unavailable, throttled, permission denied), which callers must not read as "absent"."""
    code = getattr(exc, "error_code", None)
    if code in _MISSING_CODES:
        return True
    # the open-source store answers a missing alias with INVALID_PARAMETER_VALUE "... alias X not found."
    return code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc).lower()


def versions_of(client: MlflowClient, name: str) -> list | None:
    """Every version of the registered model ``name``; None when the model does not exist. Any other
    registry error propagates (guessing "none" would register a duplicate)."""
    try:
        return client.search_model_versions(f"name='{name}'")
    except mlflow.exceptions.MlflowException as exc:
        if does_not_exist(exc):
            return None
        raise


def find_version(client: MlflowClient, name: str, run_id: str, training_key: str | None = None) -> str | None:
    """The version of ``name`` registered for the same training (its ``training_key`` tag) or, for
    versions without one, from ``run_id``; None when there is none or the model does not exist yet.
    Any other registry error propagates: guessing "not registered" would register a duplicate."""
    versions = versions_of(client, name)
    if versions is None:
        return None
    for version in sorted(versions, key=lambda v: int(v.version)):
        if training_key and (version.tags or {}).get(TRAINING_KEY) == training_key:
            return str(version.version)
    for version in sorted(versions, key=lambda v: int(v.version)):
        if version.run_id == run_id:
            return str(version.version)
    return None


def find_version_for_run(client: MlflowClient, name: str, run_id: str) -> str | None:
    """The version of ``name`` that was registered from ``run_id``, if any."""
    return find_version(client, name, run_id)


def register(client: MlflowClient, name: str, model_uri: str, run_id: str, tags: dict[str, str]) -> RegisteredVersion:
    """Register the run's model as a new version of ``name`` with ``tags``. Idempotent: when ``tags``
    carry a ``training_key`` (segment, data, configuration, code), a version of the same training is
    returned instead, whichever run logged it; registering the same run twice returns its version."""
    existing = find_version(client, name, run_id, tags.get(TRAINING_KEY))
    if existing is not None:
        return RegisteredVersion(name, existing, reused=True)
    version = mlflow.register_model(model_uri, name, tags={k: str(v) for k, v in tags.items()})
    return RegisteredVersion(name, str(version.version))


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    client.set_registered_model_alias(name, alias, version)


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """Which version carries ``alias`` now: None when the alias or the model does not exist. Any other
    error (unavailable, permission denied) raises: "no champion" must never be a guess."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException as exc:
        if does_not_exist(exc):
            return None
        raise


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


def registered_models(client: MlflowClient, config: RegistryConfig, include_router: bool = False, include_global: bool | None = None) -> list[str]:
    """Names of the registered models under the configured prefix (segment models; the router and the
    run's global models too when asked — ``include_global`` defaults to ``include_router``), sorted."""
    prefix = config.router_name()[: -len(config.router_suffix)]
    names, token = [], None
    while True:
        page = client.search_registered_models(filter_string=f"name LIKE '{prefix}%'", max_results=1000, page_token=token)
        names += [m.name for m in page if m.name.startswith(prefix)]
        token = page.token
        if not token:
            break
    router, shared = config.router_name(), config.global_names()
    include_global = include_router if include_global is None else include_global
    return sorted(n for n in set(names) if (include_router or n != router) and (include_global or n not in shared))


def champion_segments(client: MlflowClient, config: RegistryConfig, skip: set[str] = frozenset()) -> dict[str, str]:
    """Every segment model under the configured prefix (but the names in ``skip``) that has a
    ``champion``, as {segment key: registered name}, the key read from the champion version's
    ``segment`` tag (versions without one are left out). For a router that covers every champion, not
    only the segments of today's data. A registry error reading one propagates (never "no champion")."""
    out = {}
    for name in registered_models(client, config):
        if name in skip:
            continue
        version = alias_version(client, name, CHAMPION)
        if version is None:
            continue
        segment = (client.get_model_version(name, version).tags or {}).get("segment")
        if segment:
            out[segment] = name
    return out
