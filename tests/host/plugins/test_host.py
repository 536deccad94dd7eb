"""The plugin host: hot-load, versions side by side, conflicting dependencies, the catalog."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from synthral.config import Settings
from synthral.errors import ConfigurationError, PluginDisabled, PluginNotFound, UnknownCapability
from synthral.plugins.host import PluginHost
from synthral.plugins.proxy import RemoteCapability
from synthral_sdk import Capability
from tests.conftest import GRANT_ALL

pytestmark = pytest.mark.slow


async def test_builtin_and_remote_capabilities_come_from_the_same_plugin_manager(noop_host: PluginHost) -> None:
    nodes = [node for batch in noop_host.pm.hook.synthral_nodes() for node in batch]
    names = {node.spec().name for node in nodes}
    assert {"set", "if", "switch", "merge", "wait", "noop", "transform"} <= names  # built-in, in process
    assert {"echo", "sleep"} <= names  # the noop plugin, through its proxy
    local = noop_host.resolve("core/set")
    remote = noop_host.resolve("noop/echo")
    assert isinstance(local, Capability) and isinstance(remote, RemoteCapability)
    context = noop_host.context()
    # The same call, wherever the capability lives:
    assert await local.call("run", {"values": {"b": 2}}, {"data": {"a": 1}}, context) == {"data": {"a": 1, "b": 2}}
    assert (await remote.call("run", {}, {"value": 9}, context))["value"] == 9


async def test_hot_install_is_seen_by_another_host_on_the_same_home(
    settings: Settings, fixture_wheels: dict[str, Path]
) -> None:
    server, cli = PluginHost(settings), PluginHost(settings)
    try:
        with pytest.raises(PluginNotFound, match="synthral plugin install"):
            server.resolve("noop/echo")
        await cli.install(str(fixture_wheels["noop"]), grant=GRANT_ALL)
        assert (await server.invoke("noop/echo", {"value": "hot"}))["value"] == "hot"
    finally:
        await asyncio.gather(server.close(), cli.close())


async def test_two_versions_side_by_side_each_callable_by_pin(
    host: PluginHost, fixture_wheels: dict[str, Path]
) -> None:
    await host.install(str(fixture_wheels["noop"]), grant=GRANT_ALL)
    v1 = (await host.invoke("noop/echo", {}))["process"]
    await host.install(str(fixture_wheels["noop-2"]), grant=GRANT_ALL)  # an upgrade while v1's process runs
    latest = host.resolve("noop/echo")
    assert isinstance(latest, RemoteCapability) and latest.process.options.version == "2.0.0"
    pinned_v1 = await host.invoke("noop/echo", {}, version="1.0.0")
    pinned_v2 = await host.invoke("noop/echo", {}, version="2.0.0")
    assert pinned_v1["process"] == v1  # the old version kept running, untouched
    assert pinned_v2["process"] != v1
    with pytest.raises(PluginNotFound, match=r"noop 3\.0\.0"):
        host.resolve("noop/echo", version="3.0.0")
    assert [info.version for info in host.plugin_versions("noop")] == ["1.0.0", "2.0.0"]


async def test_conflicting_dependencies_live_in_one_host(host: PluginHost, fixture_wheels: dict[str, Path]) -> None:
    await host.install(str(fixture_wheels["packaging-old"]), grant=GRANT_ALL)
    await host.install(str(fixture_wheels["packaging-new"]), grant=GRANT_ALL)
    old, new = await asyncio.gather(
        host.invoke("packaging-old/packaging-version", {}), host.invoke("packaging-new/packaging-version", {})
    )
    assert int(str(old["packaging"]).split(".")[0]) < 22
    assert int(str(new["packaging"]).split(".")[0]) >= 24


async def test_disable_and_enable_while_running(host: PluginHost, fixture_wheels: dict[str, Path]) -> None:
    await host.install(str(fixture_wheels["noop"]), grant=GRANT_ALL)
    await host.invoke("noop/echo", {})
    process = host.process("noop", "1.0.0")
    assert await host.set_enabled("noop", None, False) == ["noop==1.0.0"]
    with pytest.raises(PluginDisabled, match="synthral plugin enable noop"):
        await host.invoke("noop/echo", {})
    await asyncio.sleep(0.5)
    assert process.pid is None  # its process was stopped
    assert not [entry for entry in host.catalog() if entry.plugin == "noop"]
    await host.set_enabled("noop", "1.0.0", True)
    assert (await host.invoke("noop/echo", {"value": 1}))["value"] == 1


async def test_remove_a_version_or_all(host: PluginHost, settings: Settings, fixture_wheels: dict[str, Path]) -> None:
    await host.install(str(fixture_wheels["noop"]), grant=GRANT_ALL)
    await host.install(str(fixture_wheels["noop-2"]), grant=GRANT_ALL)
    await host.invoke("noop/echo", {}, version="2.0.0")
    removed = await host.remove("noop", "2.0.0")
    assert [m.version for m in removed] == ["2.0.0"]
    assert not (settings.plugins_dir / "noop" / "2.0.0").exists()
    assert (await host.invoke("noop/echo", {"value": 1}))["value"] == 1  # 1.0.0 is now the newest
    await host.remove("synthral-fixture-noop")  # the distribution name works too
    with pytest.raises(PluginNotFound):
        host.resolve("noop/echo")
    with pytest.raises(PluginNotFound):
        await host.remove("noop")
    with pytest.raises(ConfigurationError, match="built into the host"):
        await host.remove("core")
    assert not list((settings.plugins_dir / "noop").glob(".removing*"))


async def test_catalog_lists_every_enabled_capability_with_schemas(noop_host: PluginHost) -> None:
    catalog = {entry.ref: entry for entry in noop_host.catalog()}
    assert catalog["core/if"].builtin and catalog["core/if"].version == "0.1.0"
    echo = catalog["noop/echo"]
    assert not echo.builtin and echo.version == "1.0.0"
    assert echo.spec.operations["run"].input_schema["properties"] == {"value": {"default": None, "title": "Value"}}
    sleep_config = catalog["noop/sleep"].spec.config_schema
    assert sleep_config["properties"]["cooperative"]["type"] == "boolean"  # type: ignore[index]


async def test_resolve_explains_what_is_wrong(noop_host: PluginHost) -> None:
    with pytest.raises(PluginNotFound) as missing:
        noop_host.resolve("nothing/here")
    assert "installed: agent, core, llm, noop" in missing.value.message
    with pytest.raises(UnknownCapability, match="it has: if, merge, noop, set, switch, transform, wait"):
        noop_host.resolve("core/loop")
