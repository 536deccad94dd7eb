"""How installed plugins lie on disk.

```
$SYNTHRAL_HOME/plugins/
  state.json                      which versions are disabled (rewritten atomically)
  .lock                           serialises installs and removals across processes
  <name>/<version>/
    manifest.json                 what the host knows without starting the plugin
    requirements.lock             the resolved dependency set, with hashes
    wheel/<file>.whl              the wheel it was installed from
    venv/                         the plugin's own virtualenv
  <name>/data/                    the plugin's state, kept across versions
```
A version directory only appears by an atomic rename of a finished staging directory, so
a directory that exists is complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Final

import orjson
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, Field, JsonValue

from synthral_sdk.permissions import Permissions

__all__ = ["EntryPointInfo", "Manifest", "PluginLayout", "PluginState", "sort_versions"]

MANIFEST: Final = "manifest.json"
STATE: Final = "state.json"


class EntryPointInfo(BaseModel):
    """An entry point in the ``synthral.plugins`` group."""

    name: str
    value: str


class Manifest(BaseModel):
    """Everything recorded about one installed plugin version."""

    name: str = Field(description="The plugin's name: its entry point's name.")
    dist: str = Field(description="The distribution's name, as on the package index.")
    version: str
    summary: str = ""
    source: str = Field(description="What was installed: a wheel path, a folder or 'name==version'.")
    wheel_file: str | None = Field(default=None, description="The wheel's file name under wheel/, if kept.")
    wheel_sha256: str = Field(description="Hash of the installed wheel; the catalog is cached by it.")
    sdk_version: str = Field(description="The synthral-sdk version in the plugin's venv.")
    protocol_version: str
    python: str = Field(description="The venv's interpreter version.")
    installed_at: datetime
    entry_points: list[EntryPointInfo]
    requirements: list[str] = Field(description="The resolved dependency set, 'name==version'.")
    capabilities: list[dict[str, JsonValue]] = Field(description="The catalog from the plugin's initialize answer.")
    permissions: dict[str, JsonValue] = Field(
        default_factory=dict, description="What the plugin declares it needs, from its synthral-plugin.toml."
    )
    grant: dict[str, JsonValue] | None = Field(
        default=None,
        description="What it was granted when installed; None: installed before grants were kept (it runs with none).",
    )
    provenance: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="Where the wheel came from: source, index, file and hash, the signature checked, who installed it.",
    )

    def declared(self) -> Permissions:
        """The permissions it declares."""
        return Permissions.from_json(self.permissions)

    def granted(self) -> Permissions:
        """The permissions its sandbox enforces (none when it predates grants)."""
        return Permissions.from_json(self.grant or {})

    @property
    def key(self) -> str:
        """``name==version``, the name the plugin is registered under in the host."""
        return f"{self.name}=={self.version}"


class PluginState(BaseModel):
    """Mutable state shared by every host process using this home."""

    disabled: list[str] = Field(default_factory=list, description="'name==version' keys that are disabled.")


def sort_versions(versions: list[str]) -> list[str]:
    """Sort version strings, oldest first (PEP 440 where possible)."""

    def key(value: str) -> tuple[int, Version | str]:
        try:
            return (1, Version(value))
        except InvalidVersion:
            return (0, value)

    return sorted(versions, key=key)  # the tag keeps Versions and strings from being compared


class PluginLayout:
    """Paths and files under ``$SYNTHRAL_HOME/plugins``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def version_dir(self, name: str, version: str) -> Path:
        """``<root>/<name>/<version>``: one installed version."""
        return self.root / name / version

    def venv_python(self, name: str, version: str) -> Path:
        """The interpreter of a version's venv."""
        return self.version_dir(name, version) / "venv" / "bin" / "python"

    def data_dir(self, name: str) -> Path:
        """The plugin's own state directory, shared by its versions."""
        return self.root / name / "data"

    def staging_dir(self, name: str) -> Path:
        """A fresh directory beside the final one, so the final rename stays on one filesystem."""
        parent = self.root / name
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".staging-", dir=parent))

    def trash_dir(self, name: str) -> Path:
        """A fresh directory to move a version into before deleting it (rename is atomic, rmtree is not)."""
        parent = self.root / name
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".removing-", dir=parent))

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the plugins lock (installs and removals in every process on this home)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def manifests(self) -> list[Manifest]:
        """Every complete installed version; a damaged manifest is skipped, not fatal."""
        found: list[Manifest] = []
        if not self.root.is_dir():
            return found
        for plugin_dir in sorted(self.root.iterdir()):
            if not plugin_dir.is_dir() or plugin_dir.name.startswith("."):
                continue
            for version_dir in plugin_dir.iterdir():
                if version_dir.name.startswith(".") or version_dir.name == "data":
                    continue
                manifest = self.read_manifest(version_dir)
                if manifest is not None:
                    found.append(manifest)
        return found

    def read_manifest(self, version_dir: Path) -> Manifest | None:
        """The manifest in ``version_dir``, or ``None`` if it is missing or damaged."""
        path = version_dir / MANIFEST
        try:
            return Manifest.model_validate_json(path.read_bytes())
        except (OSError, ValueError):
            return None

    def write_manifest(self, version_dir: Path, manifest: Manifest) -> None:
        """Write a manifest atomically."""
        _write_atomically(version_dir / MANIFEST, manifest.model_dump_json(indent=2).encode())

    def read_state(self) -> PluginState:
        """The shared state; empty when there is none yet."""
        try:
            return PluginState.model_validate(orjson.loads((self.root / STATE).read_bytes()))
        except (OSError, ValueError):
            return PluginState()

    def write_state(self, state: PluginState) -> None:
        """Write the shared state atomically (other host processes notice the change)."""
        self.root.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.root / STATE, state.model_dump_json(indent=2).encode())

    def state_stamp(self) -> int:
        """Changes whenever an install, removal or (dis)able happened in any process."""
        try:
            return (self.root / STATE).stat().st_mtime_ns
        except OSError:
            return 0


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
