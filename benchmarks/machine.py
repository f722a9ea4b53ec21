"""What a benchmark ran on: Python, platform and the versions of the packages that matter to it."""

from __future__ import annotations

import importlib.metadata as md
import platform


def environment(packages: tuple[str, ...]) -> dict:
    """``python``, ``platform`` and ``packages`` (name -> installed version; absent ones left out)."""
    versions = {}
    for name in packages:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": versions}
