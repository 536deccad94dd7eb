"""Protocols other than HTTP from inside the OS sandbox: the PostgreSQL connector, sandboxed, on a real server."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from synthral.plugins.host import PluginHost
from synthral.plugins.permissions import GrantRequest
from synthral.plugins.trust_settings import SandboxMode
from synthral.security.egress import EgressSettings
from tests.support.postgres import PostgresServer
from tests.support.settings import make_settings

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


@pytest.fixture
async def plugins(tmp_path: Path, wheelhouse: Path) -> AsyncIterator[PluginHost]:
    # Loopback is where the test's database listens; only workspace "lab" may reach it.
    host = PluginHost(
        make_settings(tmp_path / "home", wheelhouse), egress=EgressSettings(by_workspace={"lab": ("127.0.0.1",)})
    )
    await host.install(str(REPO / "plugins" / "connector-postgresql"), grant=GrantRequest(items=["all"]))
    yield host
    await host.close()


async def test_a_database_connector_runs_sandboxed_and_its_connections_obey_the_policy(
    plugins: PluginHost, pg_server: PostgresServer
) -> None:
    assert plugins.settings.sandbox.mode is not SandboxMode.OFF
    dsn = {"dsn": f"postgresql://synthral@localhost:{pg_server.port}/synthral"}

    async def query(workspace: str, sql: str) -> dict[str, object]:
        context = plugins.context(workspace_id=workspace, secrets=dsn)
        return await plugins.invoke("connector-postgresql/query", {"sql": sql}, context=context)

    # libpq inside the sandbox, its connection out through the egress proxy: a real answer.
    answer = await query("lab", "SELECT current_user AS who, inet_server_port() AS port")
    assert answer == {"rows": [{"who": "synthral", "port": pg_server.port}], "count": 1}
    (info,) = [p for p in plugins.plugins() if p.name == "connector-postgresql"]
    process = plugins.process(info.name, info.version)
    assert process.unsandboxed_reason is None and process.pid is not None  # it did run in the sandbox
    # Another workspace's call is refused by its own policy inside the proxy, with the fix.
    with pytest.raises(Exception, match=r"loopback.*SYNTHRAL_EGRESS_ALLOW") as refused:
        await query("office", "SELECT 1")
    assert type(refused.value).__name__ == "EgressDenied"


@pytest.fixture
async def siem_plugins(tmp_path: Path, wheelhouse: Path) -> AsyncIterator[PluginHost]:
    host = PluginHost(
        make_settings(tmp_path / "home", wheelhouse), egress=EgressSettings(by_workspace={"lab": ("127.0.0.1",)})
    )
    await host.install(str(REPO / "plugins" / "obs-wazuh"), grant=GrantRequest(items=["all"]))
    yield host
    await host.close()


async def test_syslog_over_udp_leaves_the_sandbox_through_the_egress_proxy(siem_plugins: PluginHost) -> None:
    assert siem_plugins.settings.sandbox.mode is not SandboxMode.OFF
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]
    events = {"events": [{"action": "auth.login_failed", "outcome": "failure", "actor_id": "mallory@example.com"}]}
    try:

        async def send(workspace: str) -> dict[str, object]:
            context = siem_plugins.context(workspace_id=workspace)
            config = {"host": "localhost", "port": port, "transport": "udp"}
            return await siem_plugins.invoke("obs-wazuh/send", events, config=config, context=context)

        # A datagram from inside the sandbox: the host's proxy resolved, judged and sent it.
        assert await send("lab") == {"sent": 1}
        heard = listener.recv(65535)
        assert b"auth.login_failed" in heard and b"mallory@example.com" in heard
        (info,) = [p for p in siem_plugins.plugins() if p.name == "obs-wazuh"]
        process = siem_plugins.process(info.name, info.version)
        assert process.unsandboxed_reason is None and process.pid is not None  # it ran in the sandbox
        # Another workspace's policy refuses this machine, in the proxy, with the fix; nothing is sent.
        with pytest.raises(Exception, match=r"loopback.*SYNTHRAL_EGRESS_ALLOW") as refused:
            await send("office")
        assert type(refused.value).__name__ == "EgressDenied"
        listener.settimeout(0.5)
        with pytest.raises(TimeoutError):
            listener.recv(65535)
    finally:
        listener.close()
