"""The SDK's httpx clients apply the network policy to every connection, redirects included."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from synthral_sdk import BlobStore, Context
from synthral_sdk._sandbox_proxy import AllowListProxy
from synthral_sdk.errors import EgressDenied
from synthral_sdk.http import async_client, sync_client
from synthral_sdk.network import NetworkPolicy


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@dataclass
class Server:
    host: str
    port: int
    hits: list[str] = field(default_factory=list)
    redirect_to: str | None = None

    def url(self, path: str = "/") -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{name}:{self.port}{path}"


def _serve(host: str) -> Iterator[Server]:
    server = Server(host, 0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.hits.append(self.path)
            if self.path.startswith("/redirect") and server.redirect_to:
                self.send_response(302)
                self.send_header("Location", server.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"reached " + host.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    httpd = (_Server6 if ":" in host else ThreadingHTTPServer)((host, 0), Handler)
    server.port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def loopback() -> Iterator[Server]:
    yield from _serve("127.0.0.1")


@pytest.fixture
def second() -> Iterator[Server]:
    yield from _serve("127.0.0.2")


@pytest.fixture
def ipv6() -> Iterator[Server]:
    yield from _serve("::1")


def test_a_server_refuses_loopback_by_address_by_name_and_by_odd_spellings(loopback: Server, ipv6: Server) -> None:
    urls = [
        loopback.url("/"),
        f"http://localhost:{loopback.port}/",  # refused after DNS: the name resolves to 127.0.0.1
        f"http://2130706433:{loopback.port}/",  # 127.0.0.1 as one number
        f"http://127.1:{loopback.port}/",
        f"http://[::ffff:127.0.0.1]:{loopback.port}/",
        ipv6.url("/"),
    ]
    with sync_client(NetworkPolicy.server(), timeout=5) as client:
        for url in urls:
            with pytest.raises(EgressDenied, match="loopback"):
                client.get(url)
    assert loopback.hits == [] and ipv6.hits == []


async def test_local_mode_reaches_this_machine(loopback: Server, ipv6: Server) -> None:
    async with async_client(NetworkPolicy.local(), timeout=5) as client:
        assert (await client.get(loopback.url())).text == "reached 127.0.0.1"
        assert (await client.get(f"http://localhost:{loopback.port}/")).status_code == 200
        assert (await client.get(ipv6.url())).text == "reached ::1"


async def test_every_redirect_is_checked(loopback: Server, second: Server) -> None:
    policy = NetworkPolicy.server(["127.0.0.1"])  # the operator allowed this one address only
    loopback.redirect_to = second.url("/secret")
    async with async_client(policy, timeout=5, follow_redirects=True) as client:
        assert (await client.get(loopback.url("/plain"))).status_code == 200
        with pytest.raises(EgressDenied, match=r"127\.0\.0\.2: a loopback address"):
            await client.get(loopback.url("/redirect"))
        loopback.redirect_to = "http://169.254.169.254/latest/meta-data/"
        with pytest.raises(EgressDenied, match="link-local"):
            await client.get(loopback.url("/redirect"))
    assert second.hits == []
    assert loopback.hits == ["/plain", "/redirect", "/redirect"]


def test_the_sync_client_checks_redirects_too(loopback: Server, second: Server) -> None:
    loopback.redirect_to = second.url("/secret")
    policy = NetworkPolicy.server(["127.0.0.1/32"])
    with sync_client(policy, timeout=5, follow_redirects=True) as client, pytest.raises(EgressDenied):
        client.get(loopback.url("/redirect"))
    assert second.hits == []


def test_proxies_and_other_transports_are_refused(monkeypatch: pytest.MonkeyPatch, loopback: Server) -> None:
    for option in ("proxy", "transport", "mounts", "trust_env"):
        with pytest.raises(TypeError, match=option):
            sync_client(NetworkPolicy.server(), **{option: None})
    # A proxy from the environment would resolve names where the policy cannot see them.
    monkeypatch.setenv("HTTP_PROXY", "http://10.0.0.1:3128")
    with sync_client(NetworkPolicy.local(), timeout=5) as client:
        assert client.get(loopback.url()).status_code == 200


def test_clients_share_one_tls_context_per_setting_so_a_client_per_call_is_cheap() -> None:
    # Loading the CA bundle costs tens of milliseconds: plugins that make a client per call
    # would pay it on every call. A custom bundle or client certificate still gets its own.
    def context_of(client: httpx.Client | httpx.AsyncClient) -> object:
        pool = client._transport._pool  # type: ignore[union-attr]
        return pool._ssl_context

    first, second = sync_client(NetworkPolicy.server()), async_client(NetworkPolicy.local(), timeout=3)
    unverified = sync_client(NetworkPolicy.server(), verify=False)
    assert context_of(first) is context_of(second)
    assert context_of(unverified) is not context_of(first)
    assert context_of(unverified) is context_of(sync_client(NetworkPolicy.server(), verify=False))
    first.close()
    unverified.close()


async def test_a_call_context_hands_out_a_client_with_its_policy(loopback: Server, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    server_call = Context(blobs=blobs)  # no policy given: a server's
    assert server_call.network == NetworkPolicy.server()
    async with server_call.http_client(timeout=5) as client:
        assert isinstance(client, httpx.AsyncClient)
        with pytest.raises(EgressDenied):
            await client.get(loopback.url())
    local_call = Context(blobs=blobs, network=NetworkPolicy.local())
    with local_call.http_client_sync(timeout=5) as sync:
        assert sync.get(loopback.url()).status_code == 200


def test_an_unresolvable_name_is_a_connect_error_not_a_refusal() -> None:
    with sync_client(NetworkPolicy.server(), timeout=5) as client, pytest.raises(httpx.ConnectError):
        client.get("http://no-such-host.invalid/")


@pytest.fixture
def egress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AllowListProxy]:
    """The proxy a host runs for a sandboxed plugin, here judging no address: only the call's policy narrows."""
    proxy = AllowListProxy(tmp_path / "egress.sock", None, judge=lambda host, port, address: None, upstream="")
    monkeypatch.setenv("SYNTHRAL_EGRESS_PROXY", str(proxy.path))
    yield proxy
    proxy.close()


def test_in_a_sandbox_the_client_tunnels_through_the_egress_proxy_which_applies_the_calls_policy(
    egress: AllowListProxy, loopback: Server
) -> None:
    url = f"http://localhost:{loopback.port}/"  # a name: the client cannot resolve it in a sandbox, the proxy does
    with sync_client(NetworkPolicy.local(), timeout=5) as client:
        assert client.get(url).text == "reached 127.0.0.1"
    with sync_client(NetworkPolicy.server(), timeout=5) as client, pytest.raises(EgressDenied) as refused:
        client.get(url)
    assert "loopback" in refused.value.message and "SYNTHRAL_EGRESS_ALLOW" in refused.value.message
    assert list(egress.refused) == [f"localhost:{loopback.port}"]
    assert loopback.hits == ["/"]


async def test_in_a_sandbox_a_host_not_granted_is_refused_before_the_proxy_is_asked(
    egress: AllowListProxy, loopback: Server
) -> None:
    granted = NetworkPolicy(allow_loopback=True, hosts=(f"localhost:{loopback.port}",))
    async with async_client(granted, timeout=5) as client:
        assert (await client.get(f"http://localhost:{loopback.port}/")).status_code == 200
        with pytest.raises(EgressDenied, match=r"granted network access to localhost:\d+ only"):
            await client.get(loopback.url())  # the same server by its address: not what was granted
        with pytest.raises(EgressDenied, match="loopback"):
            async with async_client(NetworkPolicy.server(), timeout=5) as server:
                await server.get(loopback.url())  # an address is judged in the plugin already
    assert list(egress.refused) == [] and loopback.hits == ["/"]
