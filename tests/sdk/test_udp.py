"""UDP datagrams within the network policy: direct, and through a sandbox's egress proxy."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from synthral_sdk import BlobStore, Context
from synthral_sdk._egress import frame, unframe
from synthral_sdk._sandbox_proxy import AllowListProxy, HostRule
from synthral_sdk.errors import EgressDenied
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.udp import MAX_BATCH, MAX_DATAGRAM, send


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A UDP socket on IPv4 loopback, as a syslog collector listens."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def _port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def _heard(sock: socket.socket, count: int) -> list[bytes]:
    return [sock.recv(65535) for _ in range(count)]


def _nothing(sock: socket.socket) -> bool:
    sock.settimeout(0.3)
    try:
        sock.recv(65535)
    except TimeoutError:
        return True
    return False


def test_datagrams_reach_what_the_policy_allows_and_nothing_else(listener: socket.socket) -> None:
    send(NetworkPolicy.local(), "localhost", _port(listener), [b"one", b"two"])
    assert _heard(listener, 2) == [b"one", b"two"]
    with pytest.raises(EgressDenied, match=r"loopback.*SYNTHRAL_EGRESS_ALLOW"):
        send(NetworkPolicy.server(), "localhost", _port(listener), [b"refused"])
    with pytest.raises(EgressDenied, match="private"):
        send(NetworkPolicy.server(), "10.0.0.1", 514, [b"judged before any packet leaves"])
    granted = NetworkPolicy(allow_loopback=True, hosts=("siem.example.com:514",))
    with pytest.raises(EgressDenied, match=r"granted network access to siem\.example\.com:514 only"):
        send(granted, "127.0.0.1", _port(listener), [b"not granted"])
    assert _nothing(listener)


def test_bad_sends_are_named_before_anything_leaves() -> None:
    with pytest.raises(ValueError, match="1-65535"):
        send(NetworkPolicy.local(), "localhost", 0, [b"x"])
    with pytest.raises(ValueError, match=f"larger than UDP carries \\({MAX_DATAGRAM}\\); split it"):
        send(NetworkPolicy.local(), "localhost", 514, [b"x" * (MAX_DATAGRAM + 1)])
    with pytest.raises(ValueError, match=f"send at most {MAX_BATCH} at a time"):
        send(NetworkPolicy.local(), "localhost", 514, [b"x" * 60_000] * 20)
    send(NetworkPolicy.server(), "10.0.0.1", 514, [])  # nothing to send: nothing judged, nothing sent


def test_the_body_framing_round_trips_and_a_broken_body_is_not_datagrams() -> None:
    datagrams = [b"", b"a", b"\x00" * 70, b"syslog line"]
    assert unframe(frame(datagrams)) == datagrams
    assert unframe(frame([b"abc"])[:-1]) is None
    assert unframe(b"\x00\x00") is None


@pytest.fixture
def egress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listener: socket.socket) -> Iterator[AllowListProxy]:
    """The egress proxy a host runs for a sandboxed plugin granted ``localhost`` on the listener's port."""
    proxy = AllowListProxy(
        tmp_path / "egress.sock",
        [HostRule("localhost", _port(listener))],
        judge=lambda host, port, address: None,
        upstream="",
    )
    monkeypatch.setenv("SYNTHRAL_EGRESS_PROXY", str(proxy.path))
    yield proxy
    proxy.close()


def test_in_a_sandbox_datagrams_go_through_the_egress_proxy_which_judges_them(
    egress: AllowListProxy, listener: socket.socket, tmp_path: Path
) -> None:
    port = _port(listener)
    # A name the plugin could not resolve in its sandbox: the proxy resolves it and sends.
    send(NetworkPolicy.local(), "localhost", port, [b"<134>1 - - - - - - first", b"second"])
    assert _heard(listener, 2) == [b"<134>1 - - - - - - first", b"second"]
    # The process's grant is the proxy's: another port is refused there, with its reason.
    other = port + 1 if port < 65535 else port - 1
    with pytest.raises(EgressDenied, match="not in this sandbox's network list"):
        send(NetworkPolicy.local(), "localhost", other, [b"x"])
    assert list(egress.refused) == [f"localhost:{other}"]
    # The call's own policy narrows it: a server's refuses loopback, in the proxy.
    with pytest.raises(EgressDenied, match="loopback"):
        send(NetworkPolicy.server(), "localhost", port, [b"x"])
    # A call's context sends with its own policy.
    context = Context(blobs=BlobStore(tmp_path / "blobs"), network=NetworkPolicy.local())
    context.udp_send("localhost", port, [b"from the context"])
    assert _heard(listener, 1) == [b"from the context"]
    assert _nothing(listener)


def test_the_proxy_refuses_a_udp_request_it_cannot_read(egress: AllowListProxy) -> None:
    for request in (
        b"POST udp://localhost:0 HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        b"POST udp://localhost:514 HTTP/1.1\r\n\r\n",  # no length
        b"POST udp://localhost:514 HTTP/1.1\r\nContent-Length: 2\r\n\r\n\x00\x00",  # not framed
    ):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(egress.path))
            sock.sendall(request)
            answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 400"), answer
