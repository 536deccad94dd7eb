"""Declared permissions: their host patterns, and the network policy a grant feeds."""

from __future__ import annotations

import pytest

from synthral_sdk.network import NetworkPolicy
from synthral_sdk.permissions import HostPattern, Permissions, PermissionsInvalid, parse_permissions


def test_a_grant_feeds_the_network_policy_its_hosts_and_the_addresses_it_names() -> None:
    workspace = NetworkPolicy.server(["10.20.0.0/16"])
    grant = Permissions(network=["api.example.com", "10.0.0.5:9000", "[fd00::7]:8080", "wiki.corp.example"])
    policy = grant.network_policy(workspace)
    assert policy.hosts == ("api.example.com", "10.0.0.5:9000", "[fd00::7]:8080", "wiki.corp.example")
    # Addresses named by number are the operator's choice; a name may resolve anywhere and is judged.
    assert policy.allow == ("10.20.0.0/16", "10.0.0.5", "fd00::7")
    assert policy.refusal("10.0.0.5", "10.0.0.5") is None
    assert policy.refusal("wiki.corp.example", "10.9.9.9") == "private"
    assert policy.allow_loopback is False
    assert Permissions(network="any").network_policy(workspace) == workspace
    assert Permissions().network_policy(workspace).hosts == ()
    local = Permissions(network=["api.example.com"]).network_policy(NetworkPolicy.local())
    assert local.allow_loopback and local.hosts == ("api.example.com",)


def test_host_patterns_match_as_the_policy_does_and_bad_ones_are_named() -> None:
    pattern = HostPattern.parse("*.example.com:8443")
    assert pattern.matches("a.example.com", 8443) and not pattern.matches("example.com", 8443)
    assert HostPattern.parse("[::1]:9000").is_address and not pattern.is_address
    assert str(HostPattern.parse("[::1]:9000")) == "[::1]:9000"
    with pytest.raises(PermissionsInvalid, match="'http://x' is not a host"):
        HostPattern.parse("http://x")
    with pytest.raises(PermissionsInvalid, match="network entry 'a b' is not a host"):
        parse_permissions('[permissions]\nnetwork = ["a b"]\n')
