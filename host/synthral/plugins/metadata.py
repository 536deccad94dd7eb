"""Reading what is installed in a plugin's venv without importing any of it.

Like Home Assistant reading ``manifest.json`` before importing an integration: the host
reads ``.dist-info`` files from the venv's site-packages and never imports plugin code into
its own process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import importlib_metadata
from packaging.utils import canonicalize_name

from synthral.plugins.layout import EntryPointInfo

__all__ = ["InstalledDist", "read_venv"]


@dataclass(frozen=True)
class InstalledDist:
    """One distribution installed in a venv."""

    name: str
    version: str
    summary: str
    entry_points: list[EntryPointInfo]


def site_packages(venv: Path) -> Path:
    """The venv's site-packages directory."""
    candidates = sorted((venv / "lib").glob("python3*/site-packages"))
    if not candidates:
        raise FileNotFoundError(f"{venv} has no lib/python3*/site-packages; it is not a virtualenv")
    return candidates[-1]


def read_venv(venv: Path, group: str) -> dict[str, InstalledDist]:
    """Every distribution in the venv, by canonical name, with its entry points in ``group``."""
    found: dict[str, InstalledDist] = {}
    for dist in importlib_metadata.distributions(path=[str(site_packages(venv))]):
        name = canonicalize_name(dist.metadata["Name"] or "")
        found[name] = InstalledDist(
            name=name,
            version=dist.version,
            summary=dist.metadata.get("Summary") or "",
            entry_points=[EntryPointInfo(name=ep.name, value=ep.value) for ep in dist.entry_points.select(group=group)],
        )
    return found
