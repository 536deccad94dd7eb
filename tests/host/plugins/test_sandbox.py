"""A hostile plugin in its sandbox: keys, database, other plugins, egress, memory, forks and shells refused."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from synthral.errors import ApprovalRequired, PluginCrashed, PluginStartError
from synthral.plugins.host import PluginHost
from synthral.plugins.permissions import GrantRequest
from synthral.plugins.trust_settings import SandboxMode
from synthral.security.egress import EgressSettings
from synthral.services.plugins import PluginService
from synthral_sdk.testing import RunnerClient
from tests.conftest import GRANT_ALL, make_settings

pytestmark = pytest.mark.slow

GRANTED_PORT = 18431
"""The one loopback port the hostile fixture declares (its synthral-plugin.toml)."""


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the host"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


class _SharedPort(ThreadingHTTPServer):
    """Binds with SO_REUSEPORT: test workers running this module at once each serve the granted port."""

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[int, int]]:
    """A server on the granted port and one on a port nobody granted, both on the host's loopback."""
    started = [_SharedPort(("127.0.0.1", GRANTED_PORT), _Hello), ThreadingHTTPServer(("127.0.0.1", 0), _Hello)]
    for server in started:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield GRANTED_PORT, started[1].server_address[1]
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def hostile_home(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, fixture_wheels: dict[str, Path]) -> Path:
    """A home with the keys and database a server keeps, noop's data, and the hostile fixture installed."""
    home = tmp_path_factory.mktemp("hostile-home")

    async def install() -> None:
        plugins = PluginHost(make_settings(home, wheelhouse))
        await plugins.install(str(fixture_wheels["hostile"]), grant=GRANT_ALL)
        await plugins.install(str(fixture_wheels["noop"]), grant=GRANT_ALL)
        await plugins.close()

    asyncio.run(install())
    for name in ("secret.key", "jwt.key", "synthral.db"):
        (home / name).write_bytes(b"the host's own " + name.encode())
    (home / "plugins" / "noop" / "data").mkdir(parents=True, exist_ok=True)
    (home / "plugins" / "noop" / "data" / "notes.txt").write_text("noop's own notes")
    return home


@pytest.fixture
async def hostile(hostile_home: Path, wheelhouse: Path) -> AsyncIterator[PluginHost]:
    plugins = PluginHost(make_settings(hostile_home, wheelhouse))
    assert plugins.sandbox_status().sandboxed, plugins.sandbox_status().describe()
    yield plugins
    await plugins.close()


async def attack(plugins: PluginHost, what: str, target: object = "") -> tuple[bool, str]:
    answer = await plugins.invoke("hostile/attack", {"what": what, "target": str(target)})
    return bool(answer["ok"]), str(answer["detail"])


async def test_the_keys_the_database_and_another_plugins_data_are_out_of_reach(
    hostile: PluginHost, hostile_home: Path
) -> None:
    for path in (
        hostile_home / "secret.key",
        hostile_home / "jwt.key",
        hostile_home / "synthral.db",
        hostile_home / "plugins" / "noop" / "data" / "notes.txt",
        Path("/root/.ssh/id_ed25519"),
    ):
        ok, detail = await attack(hostile, "read", path)
        assert not ok and "FileNotFoundError" in detail, (path, detail)
    ok, listing = await attack(hostile, "listdir", hostile_home)
    assert not ok or "secret.key" not in listing
    # What it was granted works: its own data folder.
    own = hostile_home / "plugins" / "hostile" / "data" / "mine.txt"
    assert await attack(hostile, "write", own) == (True, "written")
    assert own.read_text() == "owned"


async def test_its_venv_and_the_system_are_read_only(hostile: PluginHost, hostile_home: Path) -> None:
    venv_file = next((hostile_home / "plugins" / "hostile").glob("*/venv/pyvenv.cfg"))
    for path in (venv_file, Path("/usr/lib/owned.txt"), Path(sys.base_prefix) / "owned.txt"):
        ok, detail = await attack(hostile, "write", path)
        assert not ok and "Read-only file system" in detail, (path, detail)
    assert "owned" not in venv_file.read_text()
    # The root around the bound folders is the sandbox's own memory: what it writes there vanishes with it.
    assert (await attack(hostile, "write", "/etc/owned.txt")) == (True, "written")
    assert not Path("/etc/owned.txt").exists()


async def test_egress_reaches_the_granted_host_only(hostile: PluginHost, servers: tuple[int, int]) -> None:
    granted, other = servers
    assert await attack(hostile, "proxy-get", f"http://127.0.0.1:{granted}/") == (True, "hello from the host")
    ok, detail = await attack(hostile, "proxy-get", f"http://127.0.0.1:{other}/")
    assert not ok and "403" in detail, detail
    # Bypassing the proxy leads nowhere: the host's loopback is not in its network namespace.
    for port in (granted, other):
        ok, detail = await attack(hostile, "connect", f"127.0.0.1:{port}")
        assert not ok and ("ConnectionRefused" in detail or "unreachable" in detail), detail
    refused = hostile.process("hostile", "1.0.0").describe()["refusedEgress"]
    assert isinstance(refused, list) and any(f"127.0.0.1:{other}" in str(line) for line in refused), refused


async def test_the_sdks_client_goes_out_through_the_egress_proxy_under_one_policy(
    hostile: PluginHost, servers: tuple[int, int]
) -> None:
    granted, other = servers
    # The grant's address is in the call's policy as in the proxy's: the SDK's client reaches it.
    assert await attack(hostile, "sdk-get", f"http://127.0.0.1:{granted}/") == (True, "hello from the host")
    # A host the plugin was not granted is refused in the plugin, naming the fix, before any connection.
    ok, detail = await attack(hostile, "sdk-get", f"http://127.0.0.1:{other}/")
    assert not ok and "EgressDenied" in detail and "granted network access to 127.0.0.1:18431 only" in detail, detail
    assert "synthral-plugin.toml" in detail


async def test_each_call_is_narrowed_to_its_workspaces_policy_inside_the_egress_proxy(
    tmp_path: Path, wheelhouse: Path, fixture_wheels: dict[str, Path], servers: tuple[int, int]
) -> None:
    plugins = PluginHost(make_settings(tmp_path / "home", wheelhouse), egress=EgressSettings())
    try:
        await plugins.install(str(fixture_wheels["hostile-2"]), grant=GrantRequest(items=["all"]))  # any host
        # Only workspace "lab" may reach loopback: the process's proxy allows the union of the
        # workspaces' lists, and each call's own policy (sent by the SDK's client) narrows it.
        plugins.egress = EgressSettings(by_workspace={"lab": ("127.0.0.1", "::1")})
        url = f"http://localhost:{servers[0]}/"  # a name: only the proxy, which resolves it, can judge it

        async def sdk_get(workspace: str) -> dict[str, object]:
            context = plugins.context(workspace_id=workspace)
            return await plugins.invoke("hostile/attack", {"what": "sdk-get", "target": url}, context=context)

        assert await sdk_get("lab") == {"ok": True, "detail": "hello from the host"}
        refused = await sdk_get("office")
        assert refused["ok"] is False and "EgressDenied" in str(refused["detail"]), refused
        assert "loopback" in str(refused["detail"]) and "SYNTHRAL_EGRESS_ALLOW" in str(refused["detail"])
    finally:
        await plugins.close()


async def test_the_servers_own_api_is_refused_even_when_granted(
    hostile_home: Path, wheelhouse: Path, servers: tuple[int, int]
) -> None:
    base = make_settings(hostile_home, wheelhouse)
    plugins = PluginHost(base.replace(server={"host": "127.0.0.1", "port": servers[0]}))  # the API it serves
    try:
        ok, detail = await attack(plugins, "proxy-get", f"http://127.0.0.1:{servers[0]}/")
        assert not ok and "403" in detail, detail
    finally:
        await plugins.close()


async def test_exhausting_memory_is_stopped_and_the_host_and_other_plugins_carry_on(hostile: PluginHost) -> None:
    outcome: str
    try:
        ok, outcome = await attack(hostile, "memory", 32)  # 2 GB against its 256 MB
        assert not ok
    except PluginCrashed as crash:  # a cgroup kills it instead of failing the allocation
        outcome = crash.message
    assert "MemoryError" in outcome or "at its memory limit of 256 MB" in outcome, outcome
    assert (await hostile.invoke("noop/echo", {"value": "still here"}))["value"] == "still here"
    assert (await attack(hostile, "memory", 1))[0]  # and it serves the next call


async def test_a_fork_bomb_and_a_shell_are_refused(hostile: PluginHost) -> None:
    ok, detail = await attack(hostile, "fork", 10_000)
    assert not ok and "PermissionError" in detail, detail
    ok, detail = await attack(hostile, "shell", "id")
    assert not ok and "PermissionError" in detail, detail
    assert (await hostile.invoke("noop/echo", {"value": 1}))["value"] == 1


async def test_nothing_is_installed_without_approval_and_an_upgrade_asking_more_keeps_the_old_version(
    wheelhouse: Path, fixture_wheels: dict[str, Path], tmp_path: Path
) -> None:
    plugins = PluginHost(make_settings(tmp_path / "home", wheelhouse))
    try:
        with pytest.raises(ApprovalRequired) as refused:
            await plugins.install(str(fixture_wheels["hostile"]))
        assert set(refused.value.details["missing"]) >= {"files=data", "network=127.0.0.1:18431"}  # type: ignore[operator]
        assert not (tmp_path / "home" / "plugins" / "hostile").exists()

        asked: list[str] = []

        def approve(name: str, version: str, declared: object) -> bool:
            asked.append(f"{name}=={version}")
            return True

        await plugins.install(str(fixture_wheels["hostile"]), grant=GrantRequest(approve=approve))
        assert asked == ["hostile==1.0.0"]
        # 2.0.0 asks for any host: without a new approval it is refused and 1.0.0 stays active.
        with pytest.raises(ApprovalRequired, match="connect to any public host"):
            await plugins.install(str(fixture_wheels["hostile-2"]))
        assert [info.version for info in plugins.plugin_versions("hostile")] == ["1.0.0"]
        assert (await attack(plugins, "read", "/nonexistent"))[0] is False  # still callable
        declined = GrantRequest(approve=lambda *_: False)
        with pytest.raises(ApprovalRequired):
            await plugins.install(str(fixture_wheels["hostile-2"]), grant=declined)
        await plugins.install(str(fixture_wheels["hostile-2"]), grant=GrantRequest(items=["network", "files"]))
        assert {info.version for info in plugins.plugin_versions("hostile")} == {"1.0.0", "2.0.0"}
    finally:
        await plugins.close()


async def test_without_bubblewrap_plugins_start_only_where_the_operator_allowed_it_and_the_host_says_so(
    noop_home: Path, wheelhouse: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = make_settings(noop_home, wheelhouse)
    strict = PluginHost(base.replace(sandbox={"bwrap": "/nonexistent/bwrap"}))
    try:
        with pytest.raises(PluginStartError, match="bubblewrap is not installed") as refused:
            await strict.invoke("noop/echo", {})
        assert "SYNTHRAL_PLUGIN_SANDBOX=if-available" in refused.value.message
    finally:
        await strict.close()
    caplog.clear()
    lenient = PluginHost(base.replace(sandbox={"bwrap": "/nonexistent/bwrap", "mode": SandboxMode.IF_AVAILABLE}))
    try:
        assert "plugins run UNSANDBOXED" in caplog.text  # said at start
        assert (await lenient.invoke("noop/echo", {"value": 1}))["value"] == 1
        process = lenient.process("noop", "1.0.0").describe()
        assert process["sandbox"] == "none" and "UNSANDBOXED" in str(process["reason"])
        assert "UNSANDBOXED" in PluginService(lenient).sandbox()  # and in plugin info
    finally:
        await lenient.close()


def test_the_conformance_suite_runs_a_plugin_granted_what_it_declares_and_nothing_else(
    hostile_home: Path, servers: tuple[int, int]
) -> None:
    venv = next((hostile_home / "plugins" / "hostile").glob("*/venv"))
    with RunnerClient("synthral-fixture-hostile", python=str(venv / "bin" / "python"), sandboxed=True) as client:

        def tried(what: str, target: str) -> tuple[bool, str]:
            answer = client.invoke("attack", {"what": what, "target": target})
            return bool(answer["ok"]), str(answer["detail"])

        assert tried("proxy-get", f"http://127.0.0.1:{servers[0]}/") == (True, "hello from the host")
        ok, detail = tried("proxy-get", "http://10.1.2.3/")  # a host it does not declare
        assert not ok and "403" in detail, detail
        ok, detail = tried("read", str(hostile_home / "secret.key"))
        assert not ok and "FileNotFoundError" in detail, detail
        ok, detail = tried("shell", "id")
        assert not ok and "PermissionError" in detail, detail
