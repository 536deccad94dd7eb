"""Homes with the oauthy fixture plugin (connectors that declare their auth), made once per session."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from synthral.plugins.host import PluginHost
from tests.support.plugins import build_wheel
from tests.support.settings import FIXTURES, GRANT_ALL, make_settings


@pytest.fixture(scope="session")
def oauthy_home(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, fixture_wheels: dict[str, Path]) -> Path:
    """A home with the oauthy fixture plugin (its connectors declare their auth) installed once."""
    home = tmp_path_factory.mktemp("oauthy-home")

    async def install() -> None:
        plugin_host = PluginHost(make_settings(home, wheelhouse))
        await plugin_host.install(str(fixture_wheels["oauthy"]), grant=GRANT_ALL)
        await plugin_host.close()

    asyncio.run(install())
    return home


@pytest.fixture(scope="session")
def twin_home(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, fixture_wheels: dict[str, Path]) -> Path:
    """A home with oauthy and a second plugin, oauthytwin, offering connectors of the same names."""
    home = tmp_path_factory.mktemp("twin-home")
    source = tmp_path_factory.mktemp("twin-source") / "oauthy"
    shutil.copytree(FIXTURES / "oauthy", source)
    (source / "synthral_fixture_oauthy").rename(source / "synthral_fixture_oauthytwin")
    pyproject = source / "pyproject.toml"
    text = pyproject.read_text().replace("synthral-fixture-oauthy", "synthral-fixture-oauthytwin")
    pyproject.write_text(
        text.replace('oauthy = "synthral_fixture_oauthy"', 'oauthytwin = "synthral_fixture_oauthytwin"')
    )

    async def install() -> None:
        twin = await build_wheel(source, home / "wheel")
        plugin_host = PluginHost(make_settings(home, wheelhouse))
        await plugin_host.install(str(fixture_wheels["oauthy"]), grant=GRANT_ALL)
        await plugin_host.install(str(twin), grant=GRANT_ALL)
        await plugin_host.close()

    asyncio.run(install())
    return home
