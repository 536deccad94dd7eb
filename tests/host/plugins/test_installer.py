"""Installing plugins into their own venvs: sources, atomicity, bad wheels."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import synthral_sdk
from synthral.config import Settings
from synthral.errors import (
    IncompatiblePlugin,
    InstallError,
    NoEntryPoint,
    PluginAlreadyInstalled,
    PluginLoadError,
    PluginStartError,
)
from synthral.plugins.host import PluginHost
from synthral.plugins.metadata import read_venv
from tests.conftest import GRANT_ALL
from tests.support.settings import FIXTURES

pytestmark = pytest.mark.slow


def leftovers(settings: Settings) -> list[str]:
    """Anything an install left under plugins/ besides finished versions and state."""
    root = settings.plugins_dir
    if not root.exists():
        return []
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if rel.parts[0].startswith(".staging") or any(part.startswith(".removing") for part in rel.parts):
            found.append(str(rel))
    return found


def version_dirs(settings: Settings, name: str) -> list[str]:
    base = settings.plugins_dir / name
    return sorted(p.name for p in base.iterdir() if p.is_dir() and p.name not in {"data"}) if base.exists() else []


async def test_install_from_a_wheel_records_manifest_lock_and_catalog(
    host: PluginHost, settings: Settings, fixture_wheels: dict[str, Path]
) -> None:
    steps: list[str] = []
    manifest = await host.install(str(fixture_wheels["noop"]), progress=steps.append, grant=GRANT_ALL)

    assert (manifest.name, manifest.dist, manifest.version) == ("noop", "synthral-fixture-noop", "1.0.0")
    assert steps[-1] == "activating" and any("resolving" in step for step in steps)
    version_dir = settings.plugins_dir / "noop" / "1.0.0"
    assert (version_dir / "venv" / "bin" / "python").exists()
    assert (version_dir / "wheel" / fixture_wheels["noop"].name).exists()
    lock = (version_dir / "requirements.lock").read_text()
    assert "synthral-fixture-noop==1.0.0" in lock and f"synthral-sdk=={synthral_sdk.__version__}" in lock
    assert "--hash=sha256:" in lock
    assert any(pin.startswith("pydantic==") for pin in manifest.requirements)
    assert len(manifest.wheel_sha256) == 64
    assert {c["name"] for c in manifest.capabilities} >= {"noop", "echo", "sleep"}
    assert leftovers(settings) == []


async def test_metadata_is_read_without_importing_plugin_code(
    host: PluginHost, settings: Settings, fixture_wheels: dict[str, Path]
) -> None:
    await host.install(str(fixture_wheels["noop"]), grant=GRANT_ALL)
    dists = read_venv(settings.plugins_dir / "noop" / "1.0.0" / "venv", "synthral.plugins")
    assert dists["synthral-fixture-noop"].entry_points[0].value == "synthral_fixture_noop"
    assert "synthral_fixture_noop" not in sys.modules


async def test_install_from_a_source_folder(host: PluginHost, fixture_wheels: dict[str, Path]) -> None:
    manifest = await host.install(str(FIXTURES / "moody"), grant=GRANT_ALL)
    assert manifest.name == "moody"
    assert manifest.source.endswith("moody")
    assert await host.invoke("moody/hello", {}) == {}


async def test_install_name_equals_version_from_an_index(settings: Settings, fixture_wheels: dict[str, Path]) -> None:
    # A folder of wheels stands in for the package index (uv treats both the same way).
    indexed = settings.replace(plugins={"find_links": (fixture_wheels["noop"].parent,)})
    plugin_host = PluginHost(indexed)
    try:
        manifest = await plugin_host.install("synthral-fixture-noop==1.0.0", grant=GRANT_ALL)
        assert manifest.name == "noop" and manifest.wheel_file is None
        assert manifest.wheel_sha256  # from the lock file's hashes
        assert (await plugin_host.invoke("noop/echo", {"value": 1}))["value"] == 1
    finally:
        await plugin_host.close()


async def test_installing_the_same_version_twice_is_refused_unless_reinstalled(
    host: PluginHost, settings: Settings, fixture_wheels: dict[str, Path]
) -> None:
    await host.install(str(fixture_wheels["noop"]), grant=GRANT_ALL)
    with pytest.raises(PluginAlreadyInstalled, match="installed already; remove that version first, or reinstall"):
        await host.install(str(fixture_wheels["noop"]), grant=GRANT_ALL)
    manifest = await host.install(str(fixture_wheels["noop"]), reinstall=True, grant=GRANT_ALL)
    assert manifest.version == "1.0.0"
    assert version_dirs(settings, "noop") == ["1.0.0"]
    assert leftovers(settings) == []


async def test_a_wheel_without_the_entry_point_is_refused(
    host: PluginHost, settings: Settings, fixture_wheels: dict[str, Path]
) -> None:
    with pytest.raises(NoEntryPoint) as caught:
        await host.install(str(fixture_wheels["no-entry-point"]), grant=GRANT_ALL)
    assert "synthral.plugins" in caught.value.message
    assert "[project.entry-points" in caught.value.message  # the fix
    assert leftovers(settings) == [] and not list(settings.plugins_dir.glob("*/*/manifest.json"))


async def test_a_plugin_for_another_sdk_major_is_refused(
    host: PluginHost, settings: Settings, fixture_wheels: dict[str, Path]
) -> None:
    with pytest.raises(IncompatiblePlugin) as caught:
        await host.install(str(fixture_wheels["sdk-next"]), grant=GRANT_ALL)
    assert "synthral-sdk<3,>=2" in caught.value.message or ">=2" in caught.value.message
    assert "1.0.0" in caught.value.message
    assert leftovers(settings) == [] and version_dirs(settings, "sdk-next") == []


async def test_a_plugin_that_crashes_during_initialize_is_not_installed(
    host: PluginHost, settings: Settings, fixture_wheels: dict[str, Path]
) -> None:
    data = settings.plugins_dir / "moody" / "data"
    data.mkdir(parents=True)
    (data / "mode").write_text("exit")
    with pytest.raises(PluginStartError) as caught:
        await host.install(str(fixture_wheels["moody"]), grant=GRANT_ALL)
    assert "does not start" in caught.value.message and "exit status 3" in caught.value.message
    assert version_dirs(settings, "moody") == [] and leftovers(settings) == []


async def test_a_plugin_whose_startup_raises_is_not_installed(
    host: PluginHost, settings: Settings, fixture_wheels: dict[str, Path]
) -> None:
    data = settings.plugins_dir / "moody" / "data"
    data.mkdir(parents=True)
    (data / "mode").write_text("raise")
    with pytest.raises(PluginLoadError, match="licence file is missing"):
        await host.install(str(fixture_wheels["moody"]), grant=GRANT_ALL)
    assert version_dirs(settings, "moody") == []


async def test_a_plugin_that_hangs_on_initialize_is_not_installed(
    tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path]
) -> None:
    from tests.support.settings import make_settings

    quick = make_settings(tmp_path / "home", wheelhouse, start_timeout=1.5)
    data = quick.plugins_dir / "moody" / "data"
    data.mkdir(parents=True)
    (data / "mode").write_text("hang")
    plugin_host = PluginHost(quick)
    try:
        with pytest.raises(PluginStartError, match="did not answer 'initialize'"):
            await plugin_host.install(str(fixture_wheels["moody"]), grant=GRANT_ALL)
    finally:
        await plugin_host.close()
    assert version_dirs(quick, "moody") == [] and leftovers(quick) == []


async def test_bad_sources_are_explained(host: PluginHost, tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="NAME==VERSION"):
        await host.install("not-a-path-and-no-version", grant=GRANT_ALL)
    with pytest.raises(InstallError, match="does not exist"):
        await host.install(str(tmp_path / "missing.whl"), grant=GRANT_ALL)
    broken = tmp_path / "broken-1.0-py3-none-any.whl"
    broken.write_bytes(b"not a zip")
    with pytest.raises(InstallError, match="not a readable wheel"):
        await host.install(str(broken), grant=GRANT_ALL)
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    with pytest.raises(InstallError, match=r"no pyproject\.toml"):
        await host.install(str(empty), grant=GRANT_ALL)


async def test_an_unresolvable_dependency_leaves_nothing_behind(
    host: PluginHost, settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "unresolvable"
    (source / "synthral_fixture_unresolvable").mkdir(parents=True)
    (source / "synthral_fixture_unresolvable" / "__init__.py").write_text("")
    (source / "pyproject.toml").write_text(
        """[project]
name = "synthral-fixture-unresolvable"
version = "1.0.0"
dependencies = ["synthral-sdk>=1,<2", "synthral-no-such-package-anywhere==9.9.9"]
[project.entry-points."synthral.plugins"]
unresolvable = "synthral_fixture_unresolvable"
[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"
"""
    )
    with pytest.raises(InstallError, match="resolving the dependencies"):
        await host.install(str(source), grant=GRANT_ALL)
    assert version_dirs(settings, "unresolvable") == [] and leftovers(settings) == []
