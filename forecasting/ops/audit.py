"""What a forecast workbook's audit sheet records: where the numbers came from (the data file and each
segment's data fingerprint), the run, the code and library versions, every parameter, the validation's
row accounting and the reasons a forecast rests on thin evidence."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pandas as pd

LIBRARIES = ("finance-forecast-flows", "statsforecast", "prophet", "xgboost-cpu", "xgboost", "statsmodels", "pandas", "numpy")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def versions() -> dict[str, str]:
    """The installed versions of the package and the model families' libraries."""
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def flatten(value, prefix: str = "") -> dict[str, str]:
    """A nested configuration as ``section.field = value`` rows."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)}


def audit_facts(run, job, data_path: str | Path, run_id: str | None = None) -> tuple[list[tuple[str, str]], pd.DataFrame]:
    """The audit sheet's facts (label, value) and one row per segment: its data fingerprint, champion,
    row accounting, forecastability, low-confidence reason, notes and how its components were obtained."""
    from forecasting.fingerprint import code_fingerprint, config_fingerprint
    from forecasting.reporting import accounting_columns

    path = Path(data_path)
    facts = [("run id", run_id or uuid.uuid4().hex), ("written (UTC)", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")),
             ("data file", str(path)), ("data file sha256", file_sha256(path) if path.is_file() else "not a file"),
             ("configuration fingerprint", config_fingerprint(job)), ("code fingerprint", code_fingerprint()),
             ("model versions", "not registered: the forecast command fits the champions in this run (train registers them in MLflow)")]
    facts += [(f"version {name}", version) for name, version in versions().items()]
    facts += [(f"parameter {key}", value) for key, value in flatten(job.model_dump(mode="json")).items()]
    facts += [("note", note) for note in (run.report.notes if run.report is not None else [])]
    rows = []
    for outcome in run.outcomes.values():
        row = {"segment": outcome.segment, "status": outcome.status, "data_fingerprint": outcome.fingerprint,
               "champion": outcome.selection.champion if outcome.selection else "", **accounting_columns(outcome.report.accounting),
               "balanced": outcome.report.accounting.balanced}
        if outcome.forecastability is not None:
            row.update(forecastability=outcome.forecastability.grade, forecastability_note=outcome.forecastability.note)
        row["low_confidence"] = outcome.selection.low_confidence if outcome.selection else ""
        row["reason"] = outcome.reason
        row["notes"] = "; ".join(outcome.selection.notes) if outcome.selection else ""
        if outcome.explanation is not None:
            row["components"] = outcome.explanation.components.decomposition
            row["last_year_split"] = outcome.explanation.actuals_split
        rows.append(row)
    return facts, pd.DataFrame(rows)
