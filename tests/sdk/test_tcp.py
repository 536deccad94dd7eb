"""Raw TCP within the network policy: direct, and through a sandbox's egress proxy."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from synthral_sdk import BlobStore, Context, _sandbox_proxy
from synthral_sdk._sandbox_proxy import AllowListProxy, HostRule
from synthral_sdk.errors import EgressDenied
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.tcp import connect, forward


class _Echo(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:
            self.wfile.write(b"echo " + line)


@pytest.fixture
def echo() -> Iterator[int]:
    """A line-echoing TCP server on loopback; its port."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _say(sock: socket.socket, text: bytes) -> bytes:
    sock.sendall(text + b"\n")
    answer = b""
    while not answer.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


def test_a_socket_reaches_what_the_policy_allows_and_nothing_else(echo: int) -> None:
    with connect(NetworkPolicy.local(), "localhost", echo) as sock:
        assert _say(sock, b"hi") == b"echo hi\n"
    with pytest.raises(EgressDenied, match=r"loopback.*SYNTHRAL_EGRESS_ALLOW") as refused:
        connect(NetworkPolicy.server(), "localhost", echo)
    assert refused.value.details["host"] == "localhost"
    with pytest.raises(EgressDenied, match="private"):
        connect(NetworkPolicy.server(), "10.0.0.1", 5432)  # judged before any packet leaves
    with pytest.raises(ValueError, match="1-65535"):
        connect(NetworkPolicy.local(), "localhost", 0)


def test_granted_hosts_and_ports_hold_for_tcp_too(echo: int) -> None:
    granted = NetworkPolicy(allow_loopback=True, hosts=(f"localhost:{echo}",))
    with connect(granted, "localhost", echo) as sock:
        assert _say(sock, b"ok") == b"echo ok\n"
    with pytest.raises(EgressDenied, match=r"granted network access to localhost:\d+ only"):
        connect(granted, "localhost", echo + 1 if echo < 65535 else echo - 1)


def test_a_forward_carries_every_connection_a_driver_makes(echo: int) -> None:
    with forward(NetworkPolicy.local(), "localhost", echo) as (host, port):
        assert host == "127.0.0.1" and port != echo
        with socket.create_connection((host, port)) as one, socket.create_connection((host, port)) as two:
            assert _say(one, b"one") == b"echo one\n"
            assert _say(two, b"two") == b"echo two\n"
            assert _say(one, b"again") == b"echo again\n"
    # Closed with the block: nothing listens there any more.
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=2).close()


def test_a_refused_forward_is_raised_to_the_plugin_not_left_to_the_driver(echo: int) -> None:
    with pytest.raises(EgressDenied, match="loopback"), forward(NetworkPolicy.server(), "127.0.0.1", echo):
        pytest.fail("a refused forward never opens")


def test_a_call_context_hands_out_sockets_and_forwards_with_its_policy(echo: int, tmp_path: Path) -> None:
    local = Context(blobs=BlobStore(tmp_path), network=NetworkPolicy.local())
    with local.tcp_connect("127.0.0.1", echo) as sock:
        assert _say(sock, b"ctx") == b"echo ctx\n"
    with local.tcp_forward("127.0.0.1", echo) as address, socket.create_connection(address) as sock:
        assert _say(sock, b"fwd") == b"echo fwd\n"
    with pytest.raises(EgressDenied):
        Context(blobs=BlobStore(tmp_path)).tcp_connect("127.0.0.1", echo)


@pytest.fixture
def egress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, echo: int) -> Iterator[AllowListProxy]:
    """The egress proxy a host runs for a sandboxed plugin granted ``localhost`` on the echo port."""
    proxy = AllowListProxy(
        tmp_path / "egress.sock", [HostRule("localhost", echo)], judge=lambda host, port, address: None, upstream=""
    )
    monkeypatch.setenv("SYNTHRAL_EGRESS_PROXY", str(proxy.path))
    yield proxy
    proxy.close()


def test_in_a_sandbox_tcp_goes_through_the_egress_proxy_which_judges_it(egress: AllowListProxy, echo: int) -> None:
    # A name the plugin could not resolve in its sandbox: the proxy resolves it.
    with forward(NetworkPolicy.local(), "localhost", echo) as address, socket.create_connection(address) as sock:
        assert _say(sock, b"tunnelled") == b"echo tunnelled\n"
    with connect(NetworkPolicy.local(), "localhost", echo) as sock:
        assert _say(sock, b"direct socket") == b"echo direct socket\n"
    # The process's grant is the proxy's: another port is refused there, with its reason.
    with pytest.raises(EgressDenied, match="not in this sandbox's network list"):
        connect(NetworkPolicy.local(), "localhost", 1 if echo != 1 else 2)
    assert list(egress.refused) == [f"localhost:{1 if echo != 1 else 2}"]
    # And the call's own policy narrows it: a server's refuses loopback.
    with pytest.raises(EgressDenied, match="loopback"):
        connect(NetworkPolicy.server(), "localhost", echo)


def test_a_quiet_database_connection_outlives_the_proxys_http_idle_limit(
    egress: AllowListProxy, echo: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HTTP through the proxy is cut after IDLE_TIMEOUT of silence; a tunnel, which may be a
    # pooled database connection between queries, waits TUNNEL_IDLE_TIMEOUT.
    monkeypatch.setattr(_sandbox_proxy, "IDLE_TIMEOUT", 0.2)
    with connect(NetworkPolicy.local(), "localhost", echo) as sock:
        time.sleep(0.6)
        assert _say(sock, b"still there") == b"echo still there\n"
    monkeypatch.setattr(_sandbox_proxy, "TUNNEL_IDLE_TIMEOUT", 0.2)
    with connect(NetworkPolicy.local(), "localhost", echo) as sock:
        time.sleep(0.6)
        sock.settimeout(5)
        answer = b""
        with contextlib.suppress(OSError):  # a reset or a broken pipe: closed as well
            sock.sendall(b"too late\n")
            answer = sock.recv(100)
        assert answer == b""  # the proxy closed it


class _Greeter(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.wfile.write(b"220 ready\n")  # speaks first, as MySQL, SMTP and IMAP servers do
        for line in self.rfile:
            self.wfile.write(b"echo " + line)


def test_a_server_that_speaks_first_is_heard_through_the_tunnel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The greeting can arrive in the same segment as the proxy's "200": it is the target's,
    # not part of the proxy's answer, and must reach the driver.
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Greeter)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = int(server.server_address[1])
    proxy = AllowListProxy(tmp_path / "egress.sock", None, judge=lambda host, port, address: None, upstream="")
    monkeypatch.setenv("SYNTHRAL_EGRESS_PROXY", str(proxy.path))
    try:
        for _ in range(20):
            with connect(NetworkPolicy.local(), "127.0.0.1", port) as sock, sock.makefile("rb") as lines:
                sock.settimeout(5)
                assert lines.readline() == b"220 ready\n"
                sock.sendall(b"hello\n")
                assert lines.readline() == b"echo hello\n"
            with (
                forward(NetworkPolicy.local(), "127.0.0.1", port) as address,
                socket.create_connection(address, timeout=5) as sock,
                sock.makefile("rb") as lines,
            ):
                assert lines.readline() == b"220 ready\n"
    finally:
        proxy.close()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "request_line", [b"CONNECT 127.0.0.1:{port} HTTP/1.1", b"GET http://127.0.0.1:{port}/ HTTP/1.1"]
)
def test_a_client_gone_before_the_answer_leaves_no_connection_open_upstream(
    tmp_path: Path, request_line: bytes
) -> None:
    # A browser abandons a connection (a cancelled prefetch) while the proxy is still opening
    # the way out: the proxy's write to it fails, and the upstream connection it had opened
    # must be closed there and then, not left to the garbage collector.
    listener = socket.create_server(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    judging, hung_up = threading.Event(), threading.Event()

    def judge(host: str, port: int, address: str) -> None:
        judging.set()
        hung_up.wait(5)
        return None

    proxy = AllowListProxy(tmp_path / "egress.sock", None, judge=judge, upstream="")
    try:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(str(proxy.path))
        client.sendall(request_line.replace(b"{port}", str(port).encode()) + b"\r\nHost: x\r\n\r\n")
        assert judging.wait(5)
        client.close()
        hung_up.set()
        listener.settimeout(5)
        upstream, _ = listener.accept()
        with upstream:
            upstream.settimeout(5)
            rest = b""
            with contextlib.suppress(ConnectionResetError):
                while chunk := upstream.recv(4096):
                    rest += chunk
        # Closed (recv saw the end, no timeout); a plain request was passed on before it was.
        assert rest == b"" if request_line.startswith(b"CONNECT") else rest.startswith(b"GET / HTTP/1.1")
    finally:
        proxy.close()
        listener.close()
