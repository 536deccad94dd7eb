"""``plugin_registry.toml``: the first-party plugins, the host's default catalog."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from synthral.errors import ConfigurationError

__all__ = ["RegistryEntry", "find_registry", "load_registry"]


class RegistryEntry(BaseModel):
    """One first-party plugin."""

    name: str
    version: str
    summary: str = ""
    capabilities: list[str] = Field(default_factory=list)
    builtin: bool = False
    dist: str | None = None
    path: str | None = Field(default=None, description="Project folder, relative to the registry file.")
    system_packages: list[str] = Field(default_factory=list, description="Debian packages it needs.")


def find_registry() -> Path | None:
    """The registry of the source checkout the host runs from, if it runs from one."""
    candidate = Path(__file__).resolve().parents[3] / "plugin_registry.toml"
    return candidate if candidate.is_file() else None


def load_registry(path: Path | None = None) -> dict[str, RegistryEntry]:
    """The registry's entries by name; empty when there is no registry.

    Raises:
        ConfigurationError: The file is not valid TOML or an entry is malformed.
    """
    path = path or find_registry()  # SYNTHRAL_REGISTRY (settings.plugins.registry) names another
    if path is None:
        return {}
    try:
        raw = tomllib.loads(path.read_text())
        entries = [RegistryEntry.model_validate(item) for item in raw.get("plugins", [])]
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigurationError(f"{path} is not a valid plugin registry: {exc}") from None
    resolved = {}
    for entry in entries:
        if entry.path is not None:
            entry.path = str((path.parent / entry.path).resolve())
        resolved[entry.name] = entry
    return resolved
