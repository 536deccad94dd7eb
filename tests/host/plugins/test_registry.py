"""plugin_registry.toml tells the truth about the first-party plugins."""

from __future__ import annotations

import tomllib
from pathlib import Path

from synthral.plugins.host import BUILTIN_PLUGINS
from synthral.plugins.registry import load_registry
from tests.support.settings import REPO


def test_registry_matches_the_plugin_projects() -> None:
    entries = load_registry(REPO / "plugin_registry.toml")
    assert {"core", "http", "ocr-tesseract"} <= set(entries)
    for entry in entries.values():
        if entry.builtin:
            module = BUILTIN_PLUGINS[entry.name]
            assert sorted(entry.capabilities) == sorted(node.name for node in module.synthral_nodes())
            continue
        assert entry.path is not None
        project = tomllib.loads((Path(entry.path) / "pyproject.toml").read_text())["project"]
        assert project["name"] == entry.dist and project["version"] == entry.version
        assert list(project["entry-points"]["synthral.plugins"]) == [entry.name]


def test_every_plugin_folder_is_registered() -> None:
    folders = {path.name for path in (REPO / "plugins").iterdir() if (path / "pyproject.toml").is_file()}
    registered = {Path(e.path).name for e in load_registry(REPO / "plugin_registry.toml").values() if e.path}
    assert folders == registered
