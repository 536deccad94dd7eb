"""One rule for "the connector named X": one plugin per name, its newest enabled version unless one is named."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from synthral.errors import ConfigurationError, Conflict, NotFound
from synthral.plugins.host import PluginHost
from synthral.services.connectors import ConnectorCatalog
from synthral_sdk import WebhookScheme
from tests.support.plugins import build_wheel
from tests.support.settings import FIXTURES, GRANT_ALL, make_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def versions_home(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, fixture_wheels: dict[str, Path]) -> Path:
    """oauthy 1.0.0 and 2.0.0 side by side; in 2.0.0 hubbish signs its webhooks the Standard Webhooks way."""
    home = tmp_path_factory.mktemp("versions-home")
    source = tmp_path_factory.mktemp("oauthy-2") / "oauthy"
    shutil.copytree(FIXTURES / "oauthy", source)
    pyproject = source / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "1.0.0"', 'version = "2.0.0"'))
    module = source / "synthral_fixture_oauthy" / "__init__.py"
    module.write_text(module.read_text().replace("WebhookScheme.GITHUB", "WebhookScheme.STANDARD"))

    async def install() -> None:
        newer = await build_wheel(source, home / "wheel")
        plugin_host = PluginHost(make_settings(home, wheelhouse))
        await plugin_host.install(str(fixture_wheels["oauthy"]), grant=GRANT_ALL)
        await plugin_host.install(str(newer), grant=GRANT_ALL)
        await plugin_host.close()

    asyncio.run(install())
    return home


@pytest.fixture
async def catalog(versions_home: Path, wheelhouse: Path) -> AsyncIterator[ConnectorCatalog]:
    async with PluginHost(make_settings(versions_home, wheelhouse)) as plugin_host:
        yield ConnectorCatalog(plugin_host)
        for version in ("1.0.0", "2.0.0"):
            await plugin_host.set_enabled("oauthy", version, True)


async def test_the_newest_enabled_version_answers_unless_one_is_named(catalog: ConnectorCatalog) -> None:
    hub = catalog.get("hubbish")
    assert (hub.plugin, hub.version, hub.versions) == ("oauthy", "2.0.0", ("2.0.0", "1.0.0"))
    assert hub.actions == ("greet",) and hub.auth_type == "api_key"
    assert catalog.get("hubbish", "1.0.0").version == "1.0.0"
    listed = {(c.slug, c.version) for c in catalog.list()}
    assert listed == {("oauthy", "2.0.0"), ("legacy", "2.0.0"), ("selfhosted", "2.0.0"), ("keyed", "2.0.0"),
                      ("hubbish", "2.0.0")}  # fmt: skip
    await catalog.plugins.set_enabled("oauthy", "2.0.0", False)
    assert catalog.get("hubbish").version == "1.0.0"


async def test_webhooks_are_verified_with_the_version_the_workflow_pins(catalog: ConnectorCatalog) -> None:
    assert catalog.webhook_scheme("hubbish", {"oauthy": "1.0.0"}) is WebhookScheme.GITHUB
    assert catalog.webhook_scheme("hubbish", {"oauthy": "2.0.0"}) is WebhookScheme.STANDARD
    assert catalog.webhook_scheme("hubbish", {}) is WebhookScheme.STANDARD  # pins none: the newest
    with pytest.raises(ConfigurationError, match="does not accept webhooks"):
        catalog.webhook_scheme("keyed", {})


async def test_a_missing_connector_or_version_is_named_with_what_there_is(catalog: ConnectorCatalog) -> None:
    assert catalog.find("nothing") is None
    assert await catalog.auth_spec("nothing") is None
    with pytest.raises(NotFound, match="no installed plugin offers a connector named 'nothing'"):
        catalog.get("nothing")
    with pytest.raises(NotFound, match=r"version 9\.9 of connector 'hubbish' \(plugin oauthy\).*2\.0\.0, 1\.0\.0"):
        catalog.get("hubbish", "9.9")
    spec = await catalog.auth_spec("oauthy")
    assert spec is not None and spec.type == "oauth2" and spec.scopes == ["read", "write"]


async def test_two_plugins_offering_one_connector_name_are_refused_by_every_lookup(
    twin_home: Path, wheelhouse: Path
) -> None:
    async with PluginHost(make_settings(twin_home, wheelhouse)) as plugin_host:
        catalog = ConnectorCatalog(plugin_host)
        with pytest.raises(Conflict, match="several plugins offer a connector named 'oauthy'") as raised:
            await catalog.auth_spec("oauthy")
        assert raised.value.details["plugins"] == ["oauthy", "oauthytwin"]
        assert "disable all of these plugins but one" in raised.value.message
        with pytest.raises(Conflict):
            catalog.webhook_scheme("hubbish", {})
        with pytest.raises(Conflict):
            catalog.get("keyed", "1.0.0")
        assert sorted((c.slug, c.plugin) for c in catalog.list() if c.slug == "oauthy") == [
            ("oauthy", "oauthy"),
            ("oauthy", "oauthytwin"),
        ]
