"""Content fingerprints for cache keys and lineage: a segment's data, a configuration, the code."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from types import ModuleType

import pandas as pd
from pydantic import BaseModel

import forecasting
from forecasting.contract import data_hash


def segment_fingerprint(history: pd.DataFrame, future: pd.DataFrame) -> str:
    """Changes whenever any value, date or covariate of the segment changes."""
    return hashlib.sha256((data_hash(history) + data_hash(future)).encode()).hexdigest()[:16]


def prepared_fingerprint(prepared: dict) -> str:
    """The data fingerprint of a run: every validated segment's key and content (MLflow's ``data_hash``
    tag and the forecast table's ``data_fingerprint``): identical data, identical fingerprint."""
    return config_fingerprint(*(f"{s.key}:{segment_fingerprint(s.history, s.future)}" for s in prepared.values()))


def config_fingerprint(*configs: BaseModel | dict | str) -> str:
    parts = [c.model_dump_json() if isinstance(c, BaseModel) else json.dumps(c, sort_keys=True, default=str) for c in configs]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=8)
def code_fingerprint(*packages: ModuleType) -> str:
    """Digest of the source of ``packages`` (default: the domain library): any change to how models
    are fitted invalidates caches, committed or not. Callers above the domain pass their own packages
    too, so a change in the code that drives training invalidates them as well."""
    digest = hashlib.sha256()
    for package in packages or (forecasting,):
        root = Path(package.__file__).resolve().parent
        for path in sorted(root.rglob("*.py")):
            digest.update(f"{package.__name__}/{path.relative_to(root)}".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
