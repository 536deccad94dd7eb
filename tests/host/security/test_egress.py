"""Each plugin call gets its workspace's network policy: public addresses, plus what the operator allowed."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from synthral.config import Settings
from synthral.errors import ConfigurationError
from synthral.security.egress import EgressSettings, workspace_variable
from synthral_sdk.network import NetworkPolicy
from tests.support.api import PASSWORD, open_server


def test_allow_lists_are_read_per_workspace_and_bad_entries_are_named() -> None:
    env = {
        "SYNTHRAL_EGRESS_ALLOW": "10.1.0.0/16, wiki.corp.example",
        "SYNTHRAL_EGRESS_ALLOW_ACME_EU": "192.168.5.0/24 *.lab.example",
        "SYNTHRAL_EGRESS_ALLOW_GHOST": "10.9.9.9",
    }
    settings = EgressSettings.from_env(env)
    assert workspace_variable("acme-eu") == "SYNTHRAL_EGRESS_ALLOW_ACME_EU"
    resolved = settings.resolved([("ws-1", "acme-eu"), ("ws-2", "globex")])
    assert resolved.policy("ws-1") == NetworkPolicy.server(
        ["10.1.0.0/16", "wiki.corp.example", "192.168.5.0/24", "*.lab.example"]
    )
    assert resolved.policy("ws-2") == NetworkPolicy.server(["10.1.0.0/16", "wiki.corp.example"])
    assert resolved.policy(None) == resolved.policy("ws-2")
    assert EgressSettings.from_env({}, local=True).policy("ws-1") == NetworkPolicy.local()
    with pytest.raises(ConfigurationError, match=re.escape("SYNTHRAL_EGRESS_ALLOW_X: 'http://10.0.0.1' is not")):
        EgressSettings.from_env({"SYNTHRAL_EGRESS_ALLOW_X": "http://10.0.0.1"})


def test_a_variable_naming_no_workspace_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="synthral.security"):
        EgressSettings.from_env({"SYNTHRAL_EGRESS_ALLOW_ACMEE": "10.0.0.1"}).resolved([("ws-1", "acme")])
    assert "SYNTHRAL_EGRESS_ALLOW_ACMEE names no workspace" in caplog.text


@pytest.mark.slow
async def test_the_server_resolves_workspace_slugs_at_start_and_local_mode_allows_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNTHRAL_DATABASE_URL", raising=False)
    monkeypatch.delenv("SYNTHRAL_EGRESS_ALLOW", raising=False)  # a server's own default: public addresses only
    settings = Settings.load(home=tmp_path / "home")
    async with open_server(settings) as server:
        owner = await server.identity.create_user("ada@example.com", PASSWORD)
        made = await server.identity.create_workspace("acme-eu", "Acme EU", owner_id=owner.id)
        assert server.app.plugins.context(workspace_id=made.id).network == NetworkPolicy.server()
    monkeypatch.setenv("SYNTHRAL_EGRESS_ALLOW_ACME_EU", "10.20.0.0/16")
    settings = Settings.load(home=tmp_path / "home")  # read once per process start
    async with open_server(settings) as server:
        policy = server.app.plugins.context(workspace_id=made.id).network
        assert policy == NetworkPolicy.server(["10.20.0.0/16"])
        assert server.app.plugins.context().network == NetworkPolicy.server()
    async with open_server(settings, local=True) as server:
        assert server.app.plugins.context(workspace_id=made.id).network == NetworkPolicy.local(["10.20.0.0/16"])
