"""The architecture, enforced from the source: imports only point down the layers
(domain <- mlops <- serving <- ops <- tasks <- flows <- deployments), and no Prefect in `forecasting/`."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

LAYERS = ["domain", "mlops", "serving", "ops", "tasks", "flows", "deployments"]
PACKAGES = ["forecasting", "tasks", "flows", "deployments"]
# Kept at their old paths for models registered before the layout change; they belong to mlops.
LEGACY_ALIASES = {"forecasting.mlflow_model": "mlops", "forecasting.router": "mlops"}


def layer_of(module: str) -> str | None:
    if module in LEGACY_ALIASES:
        return LEGACY_ALIASES[module]
    parts = module.split(".")
    if parts[0] in ("tasks", "flows", "deployments"):
        return parts[0]
    if parts[0] != "forecasting":
        return None
    if len(parts) > 1 and parts[1] in ("mlops", "serving", "ops"):
        return parts[1]
    return "domain"


def modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
            yield name, path


def imports(path: Path) -> list[tuple[str, int]]:
    """Every module ``path`` imports (absolute names), with the line, wherever the import statement is."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


def test_every_import_points_down_the_layers():
    upward = []
    for name, path in modules():
        own = LAYERS.index(layer_of(name))
        for target, line in imports(path):
            layer = layer_of(target)
            if layer is not None and LAYERS.index(layer) > own:
                upward.append(f"{path.relative_to(ROOT)}:{line} ({layer_of(name)}) imports {target} ({layer})")
    assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)


def test_the_domain_library_never_imports_prefect():
    found = [f"{path.relative_to(ROOT)}:{line} imports {target}" for name, path in modules() if name.startswith("forecasting")
             for target, line in imports(path) if target.split(".")[0] in ("prefect", "prefect_dask")]
    assert not found, "\n".join(found)


def test_the_rule_catches_an_upward_import(tmp_path):
    """The check itself: a domain module importing the MLOps layer is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from forecasting.mlops.tracking import connect\n")
    assert [layer_of(t) for t, _ in imports(bad)] == ["mlops"]
    assert LAYERS.index("mlops") > LAYERS.index(layer_of("forecasting.backtest"))
