"""Mounting MCP servers as pinned plugins: a stdio command, a PyPI package; tools as nodes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from synthral.errors import InstallError, NonRetryableError, PluginLoadError, PluginStartError
from synthral.plugins.host import PluginHost
from synthral.plugins.mcp_mount import mount_mcp_server, parse_mount
from tests.conftest import GRANT_ALL

pytestmark = pytest.mark.slow

ECHO = Path(__file__).resolve().parents[2] / "fixtures" / "mcp" / "echo_server.py"


def test_a_mount_request_is_checked_before_anything_happens() -> None:
    with pytest.raises(InstallError, match="lowercase letters"):
        parse_mount("mcp:Bad Name", command=["x"], url=None, package=None)
    with pytest.raises(InstallError, match="say how to reach the MCP server"):
        parse_mount("mcp:x", command=[], url=None, package=None)
    with pytest.raises(InstallError, match="http:// or https://"):
        parse_mount("mcp:x", command=[], url="ftp://nowhere", package=None)


async def test_a_stdio_server_is_mounted_pinned_and_its_tools_run_as_nodes(host: PluginHost) -> None:
    mount = parse_mount("mcp:echo", command=[sys.executable, str(ECHO)], url=None, package=None)

    manifest = await mount_mcp_server(host.install, mount, grant=GRANT_ALL)

    assert (manifest.name, manifest.version) == ("mcp-echo", "1.2.0")
    specs = {c["name"]: c for c in manifest.capabilities}
    assert set(specs) == {"echo", "fail"}  # lowercased to capability names
    assert specs["echo"]["operations"]["run"]["inputSchema"]["required"] == ["text"]
    output = await host.invoke("mcp-echo/echo", {"text": "hi", "times": 2})
    assert output["text"] == "hi hi" and output["structured"] == {"echo": "hi hi"}
    with pytest.raises(NonRetryableError, match="it failed on purpose"):
        await host.invoke("mcp-echo/fail", {})
    with pytest.raises(Exception, match="times: 0 is less than the minimum of 1"):
        await host.invoke("mcp-echo/echo", {"text": "x", "times": 0})


async def test_a_server_reporting_another_version_is_refused_until_mounted_again(host: PluginHost) -> None:
    mount = parse_mount("mcp:echo2", command=[sys.executable, str(ECHO)], url=None, package=None)
    await mount_mcp_server(host.install, mount, grant=GRANT_ALL)
    await host.close()
    # The server is upgraded under the mount: a copy reporting 9.9.9 takes the original's place.
    script = ECHO.read_text().replace('"1.2.0"', '"9.9.9"')
    moved = ECHO.parent / "echo_server_v9.py"
    moved.write_text(script)
    try:
        manifest_dir = host.layout.version_dir("mcp-echo2", "1.2.0")
        mount_json = next(manifest_dir.glob("venv/lib/python*/site-packages/synthral_mcp_echo2/mount.json"))
        mount_json.write_text(mount_json.read_text().replace(str(ECHO), str(moved)))
        fresh = PluginHost(host.settings)
        with pytest.raises(
            (PluginLoadError, PluginStartError), match=r"reports version '9.9.9' but '1.2.0' was pinned"
        ):
            await fresh.invoke("mcp-echo2/echo", {"text": "x"})
        await fresh.close()
    finally:
        moved.unlink()


async def test_a_pypi_mcp_server_is_installed_into_its_own_venv(host: PluginHost) -> None:
    mount = parse_mount("mcp:time", command=[], url=None, package="mcp-server-time")

    manifest = await mount_mcp_server(host.install, mount, grant=GRANT_ALL)

    assert manifest.name == "mcp-time" and any(r.startswith("mcp-server-time==") for r in manifest.requirements)
    assert (
        manifest.version == next(r for r in manifest.requirements if r.startswith("mcp-server-time==")).split("==")[1]
    )
    names = {c["name"] for c in manifest.capabilities}
    assert "get_current_time" in names
    output = await host.invoke("mcp-time/get_current_time", {"timezone": "UTC"})
    assert '"timezone": "UTC"' in output["text"] or "UTC" in output["text"]
