"""The Redis connector against a real local redis-server."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from synthral_connector_redis.plugin import Command, Redis, StreamEntry

from synthral_sdk._conformance_sandbox import sandbox_unavailable
from synthral_sdk.errors import ConfigurationError, EgressDenied, InputInvalid, NonRetryableError, RetryableError
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.testing import PluginConformance, RunnerClient, call


class TestConformance(PluginConformance):
    dist = "synthral-connector-redis"


def test_strings_hashes_and_lists(url: str) -> None:
    s = {"url": url}
    assert call(Command(), {"command": "set", "key": "greeting", "value": "hi", "ttl_seconds": 60}, secrets=s) == {
        "result": True
    }
    assert call(Command(), {"command": "get", "key": "greeting"}, secrets=s) == {"result": "hi"}
    assert call(
        Command(), {"command": "hset", "key": "user:1", "fields": {"name": "Ada", "role": "admin"}}, secrets=s
    ) == {"result": 2}
    assert call(Command(), {"command": "hgetall", "key": "user:1"}, secrets=s) == {
        "result": {"name": "Ada", "role": "admin"}
    }
    call(Command(), {"command": "rpush", "key": "queue", "value": "a"}, secrets=s)
    call(Command(), {"command": "rpush", "key": "queue", "value": "b"}, secrets=s)
    assert call(Command(), {"command": "lrange", "key": "queue"}, secrets=s) == {"result": ["a", "b"]}


def test_bad_input_and_a_wrong_password_are_named(url: str) -> None:
    with pytest.raises(ConfigurationError, match="'set' needs 'value'"):
        call(Command(), {"command": "set", "key": "k"}, secrets={"url": url})
    with pytest.raises(InputInvalid, match="command"):
        call(Command(), {"command": "flushall", "key": "k"}, secrets={"url": url})
    with pytest.raises(NonRetryableError, match="refused the command: WRONGTYPE"):
        call(Command(), {"command": "get", "key": "user:1"}, secrets={"url": url})
    with pytest.raises(NonRetryableError, match="refused the credential"):
        call(Command(), {"command": "get", "key": "k"}, secrets={"url": url.replace("s3cret", "nope")})
    assert call(Redis(), {}, operation="test_connection", secrets={"url": url}) == {"ok": True, "message": "PONG"}


def test_stream_trigger_starts_at_the_end_and_emits_each_entry_once(url: str) -> None:
    s = {"url": url}
    call(Command(), {"command": "xadd", "key": "orders", "fields": {"n": "0"}}, secrets=s)
    first = call(StreamEntry(), {"state": None}, config={"stream": "orders"}, secrets=s)
    for n in ("1", "2"):
        call(Command(), {"command": "xadd", "key": "orders", "fields": {"n": n}}, secrets=s)
    second = call(StreamEntry(), {"state": first["state"]}, config={"stream": "orders"}, secrets=s)
    third = call(StreamEntry(), {"state": second["state"]}, config={"stream": "orders"}, secrets=s)
    assert first["events"] == []
    assert [e["fields"] for e in second["events"]] == [{"n": "1"}, {"n": "2"}]
    assert third["events"] == [] and third["state"] == second["state"]


def test_the_server_is_reached_only_where_the_network_policy_allows(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    get = {"command": "get", "key": "k"}
    # A server's policy refuses this machine and private networks: a URL pointing there is a
    # clear refusal, not a connection error to retry, and the connection test says why.
    with pytest.raises(EgressDenied, match=r"loopback.*SYNTHRAL_EGRESS_ALLOW"):
        call(Command(), get, secrets={"url": url}, network=NetworkPolicy.server())
    refused = call(Redis(), {}, operation="test_connection", secrets={"url": url}, network=NetworkPolicy.server())
    assert refused["ok"] is False and "SYNTHRAL_EGRESS_ALLOW" in refused["message"]
    with monkeypatch.context() as patched:

        def no_lookup(*args: Any, **kwargs: Any) -> list[Any]:
            raise AssertionError("a connection was attempted")

        patched.setattr(socket, "getaddrinfo", no_lookup)
        with pytest.raises(EgressDenied, match="private"):
            call(Command(), get, secrets={"url": "redis://:s3cret@10.0.0.1:6379/0"}, network=NetworkPolicy.server())
    # Reached by a name, with the address judged where it resolved: still the same server.
    by_name = url.replace("127.0.0.1", "localhost")
    call(Command(), {"command": "set", "key": "reached", "value": "by name"}, secrets={"url": by_name})
    assert call(Command(), {"command": "get", "key": "reached"}, secrets={"url": url}) == {"result": "by name"}
    # Nothing listening is still the retryable "could not reach".
    with pytest.raises(RetryableError, match="could not reach Redis"):
        call(Command(), get, secrets={"url": "redis://:s3cret@127.0.0.1:1/0"})


def test_a_unix_socket_url_says_to_name_the_server_by_host(url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"Unix socket .*plugins cannot reach it; name the server by host"):
        call(Command(), {"command": "get", "key": "k"}, secrets={"url": "unix:///run/redis/redis-server.sock"})
    with pytest.raises(ConfigurationError, match="write it as redis://"):
        call(Command(), {"command": "get", "key": "k"}, secrets={"url": "http://127.0.0.1:6379"})
    with pytest.raises(ConfigurationError, match="does not parse: Invalid value for 'db'"):
        call(Command(), {"command": "get", "key": "k"}, secrets={"url": f"{url}?db=first"})
    with pytest.raises(ConfigurationError, match="OCSP checks"):  # they would connect around the policy
        call(Command(), {"command": "get", "key": "k"}, secrets={"url": "rediss://localhost/0?ssl_validate_ocsp=yes"})


def test_tls_checks_the_certificate_against_the_url_host_name(tls: tuple[str, str]) -> None:
    # The socket is opened by the plugin, yet redis-py's TLS still checks the name in the URL.
    url, ca = tls
    s = {"url": f"{url}?ssl_ca_certs={ca}"}
    assert call(Command(), {"command": "set", "key": "secure", "value": "yes"}, secrets=s) == {"result": True}
    assert call(Command(), {"command": "get", "key": "secure"}, secrets=s) == {"result": "yes"}
    with pytest.raises(EgressDenied, match="loopback"):  # TLS or not, the policy decides first
        call(Command(), {"command": "get", "key": "secure"}, secrets=s, network=NetworkPolicy.server())
    # The certificate names localhost only: the same server by its address is not accepted.
    by_address = {"url": s["url"].replace("localhost", "127.0.0.1")}
    with pytest.raises(NonRetryableError, match="certificate was not accepted: IP address mismatch"):
        call(Command(), {"command": "get", "key": "secure"}, secrets=by_address)
    # Without the CA, the system's CAs do not know this one.
    with pytest.raises(NonRetryableError, match="certificate was not accepted"):
        call(Command(), {"command": "get", "key": "secure"}, secrets={"url": url})


def test_the_plugin_runs_in_the_os_sandbox_and_connects_through_its_egress_proxy(
    url: str, tls: tuple[str, str]
) -> None:
    if (problem := sandbox_unavailable()) is not None:
        pytest.skip(f"no OS sandbox here: {problem}")
    tls_url, ca = tls
    # The CA file is not in the sandbox: its PEM travels in the URL instead.
    verified = {"url": f"{tls_url}?ssl_ca_data={quote(Path(ca).read_text())}"}
    with RunnerClient("synthral-connector-redis", sandboxed=True) as runner:
        assert runner.sandboxed  # it no longer asks to run outside the sandbox
        # The sandbox has no network of its own: these went through the egress proxy's tunnel.
        by_name = {"url": url.replace("127.0.0.1", "localhost")}
        runner.invoke("command", {"command": "set", "key": "sandboxed", "value": "yes"}, context={"secrets": by_name})
        assert call(Command(), {"command": "get", "key": "sandboxed"}, secrets={"url": url}) == {"result": "yes"}
        # TLS inside the tunnel, the certificate checked against the URL's host name.
        assert runner.invoke("command", {"command": "incr", "key": "n"}, context={"secrets": verified}) == {"result": 1}
        by_address = {"url": verified["url"].replace("localhost", "127.0.0.1")}
        with pytest.raises(NonRetryableError, match="certificate was not accepted"):
            runner.invoke("command", {"command": "get", "key": "n"}, context={"secrets": by_address})
        with pytest.raises(EgressDenied, match="SYNTHRAL_EGRESS_ALLOW"):
            runner.invoke(
                "command",
                {"command": "get", "key": "sandboxed"},
                context={"secrets": by_name, "network": NetworkPolicy.server().to_wire()},
            )
