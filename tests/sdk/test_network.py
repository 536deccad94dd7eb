"""The network policy: which addresses a plugin's requests may reach, decided after DNS."""

from __future__ import annotations

import ipaddress
import re

import pytest

from synthral_sdk.errors import ConfigurationError, EgressDenied, error_from_data, error_to_data
from synthral_sdk.network import NetworkPolicy, blocked_reason

BLOCKED = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "::1": "loopback",
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped
    "64:ff9b::7f00:1": "loopback",  # NAT64 of 127.0.0.1
    "2002:7f00:1::": "loopback",  # 6to4 of 127.0.0.1
    "169.254.169.254": "link-local (where cloud metadata services answer)",
    "::ffff:169.254.169.254": "link-local (where cloud metadata services answer)",
    "fe80::1": "link-local (where cloud metadata services answer)",
    "10.0.0.5": "private",
    "172.16.3.4": "private",
    "192.168.1.1": "private",
    "100.100.100.200": "shared (carrier-grade NAT)",  # a cloud's metadata service
    "fd00:ec2::254": "unique-local",  # another cloud's metadata service
    "fc00::1": "unique-local",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "198.18.0.1": "private",
    "240.0.0.1": "private",
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4007:80e::200e", "64:ff9b::808:808"]


@pytest.mark.parametrize(("address", "reason"), sorted(BLOCKED.items()))
def test_non_public_addresses_are_refused_on_a_server_v4_and_v6(address: str, reason: str) -> None:
    assert NetworkPolicy.server().refusal("example.test", address) == reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None
    assert NetworkPolicy.server().refusal("example.test", address) is None


def test_local_mode_allows_loopback_and_nothing_else_more() -> None:
    local = NetworkPolicy.local()
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert local.refusal("localhost", address) is None
    for address in ("10.0.0.5", "169.254.169.254", "fd00::1"):
        assert local.refusal("x", address) is not None


def test_the_operator_allow_list_takes_networks_addresses_hosts_and_domains() -> None:
    policy = NetworkPolicy.server(["10.20.0.0/16", "192.168.1.5", "fd00:1::/32", "wiki.corp.example", "*.lan.example"])
    assert policy.refusal("x", "10.20.3.4") is None
    assert policy.refusal("x", "10.21.3.4") == "private"
    assert policy.refusal("x", "192.168.1.5") is None and policy.refusal("x", "192.168.1.6") == "private"
    assert policy.refusal("x", "fd00:1::9") is None
    assert policy.refusal("WIKI.corp.example.", "10.99.0.1") is None  # whatever the name resolves to
    assert policy.refusal("printer.lan.example", "192.168.7.7") is None
    assert policy.refusal("lan.example", "192.168.7.7") == "private"  # a domain entry means its subdomains
    assert policy.refusal("evil-wiki.corp.example", "10.99.0.1") == "private"


def test_a_bad_allow_list_entry_is_named() -> None:
    with pytest.raises(ValueError, match=re.escape("'http://10.0.0.1/' is not a network")):
        NetworkPolicy.server(["http://10.0.0.1/"])


def test_permitted_keeps_the_allowed_addresses_and_refuses_with_the_fix() -> None:
    policy = NetworkPolicy.server()
    assert policy.permitted("mixed.example", ["10.0.0.1", "8.8.8.8"]) == ["8.8.8.8"]
    with pytest.raises(EgressDenied) as denied:
        policy.permitted("metadata.google.internal", ["169.254.169.254"])
    error = denied.value
    assert isinstance(error, ConfigurationError) and not error.retryable and error.code == "egress_denied"
    assert "metadata.google.internal (169.254.169.254)" in error.message and "link-local" in error.message
    assert "SYNTHRAL_EGRESS_ALLOW" in error.message
    assert error.details["reason"] == "link-local (where cloud metadata services answer)"
    rebuilt = error_from_data(error.message, error_to_data(error))
    assert type(rebuilt) is EgressDenied  # it crosses the plugin boundary as itself


def test_the_wire_form_round_trips_and_a_missing_one_is_the_server_policy() -> None:
    policy = NetworkPolicy.local(["10.0.0.0/8", "*.corp.example"])
    assert NetworkPolicy.from_wire(policy.to_wire()) == policy
    for junk in (None, "x", [], {"allowLoopback": "yes"}, {"allow": ["not a host!"]}):
        assert NetworkPolicy.from_wire(junk).allow_loopback is False  # type: ignore[arg-type]


def test_granted_hosts_narrow_the_policy_by_name_and_port_before_any_address() -> None:
    policy = NetworkPolicy(hosts=("api.example.com", "*.files.example:8443", "10.0.0.5:9000"), allow=("10.0.0.5",))
    assert policy.granted("API.example.com.", 443) and policy.granted("api.example.com", 80)
    assert not policy.granted("api.example.com", 8080)  # no port: the web's two
    assert policy.granted("eu.files.example", 8443) and not policy.granted("files.example", 8443)
    assert policy.permitted("10.0.0.5", ["10.0.0.5"], port=9000) == ["10.0.0.5"]
    with pytest.raises(EgressDenied) as denied:
        policy.permitted("evil.example", ["8.8.8.8"], port=443)
    assert "granted network access to api.example.com, *.files.example:8443, 10.0.0.5:9000 only" in str(denied.value)
    assert "synthral-plugin.toml" in str(denied.value) and denied.value.details["reason"] == "not granted"
    assert NetworkPolicy(hosts=()).granted("api.example.com", 443) is False
    assert NetworkPolicy().granted("anything.example", 1234)  # no list: any host, its addresses judged


def test_the_wire_carries_the_granted_hosts_and_a_malformed_list_grants_none() -> None:
    policy = NetworkPolicy.server(["10.1.0.0/16"])
    granted = NetworkPolicy(allow=("10.1.0.0/16",), hosts=("api.example.com:8443",))
    assert NetworkPolicy.from_wire(granted.to_wire()) == granted
    assert "hosts" not in policy.to_wire() and NetworkPolicy.from_wire(policy.to_wire()).hosts is None
    assert NetworkPolicy.from_wire({"allow": [], "hosts": ["http://x/"]}).hosts == ()
    assert NetworkPolicy.from_wire({"allow": [], "hosts": "api.example.com"}).hosts == ()
    with pytest.raises(ValueError, match="is not a host"):
        NetworkPolicy(hosts=("api.example.com/path",))


def test_each_calls_wire_gets_the_policy_it_says_though_equal_wires_share_one() -> None:
    """The runner reads a policy per call; equal wires are parsed once, and no call sees another's hosts."""
    first = {"allowLoopback": False, "allow": [], "hosts": ["a.example"]}
    second = {"allowLoopback": False, "allow": [], "hosts": ["b.example"]}
    one, other = NetworkPolicy.from_wire(first), NetworkPolicy.from_wire(second)
    assert one.granted("a.example", 443) and not one.granted("b.example", 443)
    assert other.granted("b.example", 443) and not other.granted("a.example", 443)
    assert NetworkPolicy.from_wire(dict(first)) is one  # frozen, so shared
    assert NetworkPolicy.from_wire({**first, "allowLoopback": True}).allow_loopback is True
    assert NetworkPolicy.from_wire({"allow": [], "hosts": ["http://x/"]}).hosts == ()  # malformed: none, cached too
    assert NetworkPolicy.from_wire({"allow": [], "hosts": ["http://x/"]}).hosts == ()
