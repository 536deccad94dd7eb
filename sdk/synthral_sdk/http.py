"""httpx clients that apply the call's network policy to every connection: the way plugins make requests.

Every plugin that fetches a URL a workflow chose (HTTP, scraping, connectors, LLM and RAG
providers, webhooks it calls back) makes its requests through these clients, so one SSRF
policy holds for all of them (see :mod:`synthral_sdk.network`)::

    async def run(self, inputs, config, context):
        async with context.http_client(timeout=30) as client:  # an httpx.AsyncClient
            response = await client.get(inputs.url)

    def run(self, inputs, config, context):  # synchronous code
        with context.http_client_sync(timeout=30) as client:  # an httpx.Client
            response = client.get(inputs.url)

Libraries that accept an httpx client take these as they are
(``openai.AsyncOpenAI(http_client=context.http_client())``). Outside a call (in
``synthral_startup``), pass a policy: ``async_client(NetworkPolicy.server(), ...)``.

How it holds: the client resolves each host name itself, checks every address against the
policy, and connects to a permitted address (TLS still verifies the certificate against the
name). The check happens on every new connection, so each redirect is checked too, and a
name whose DNS answer changes between two lookups (DNS rebinding) is checked at the lookup
that is used. Environment proxies are ignored (``trust_env=False``) and the ``proxy``,
``mounts`` and ``transport`` arguments are refused: a proxy would resolve names where the
policy cannot see them. A refused connection raises :class:`~synthral_sdk.errors.EgressDenied`
(a configuration error: the same request fails the same way).

In the host's OS sandbox, where the process has no network of its own, every connection is a
tunnel through the host's egress proxy instead; the proxy resolves the name and judges it by
the same policy, which the client sends along (:mod:`synthral_sdk._egress`).

.. versionadded:: 1.5
.. versionchanged:: 1.9
   Through the sandbox's egress proxy when there is one; the policy's granted hosts apply.
"""

from __future__ import annotations

import functools
import socket
import ssl
from collections.abc import Iterable
from typing import Any, Final

import anyio
import httpcore
import httpx

from synthral_sdk._egress import ANSWER_LIMIT, connect_request, egress_proxy, precheck, tunnel_failure
from synthral_sdk.errors import EgressDenied
from synthral_sdk.network import NetworkPolicy

__all__ = ["EgressDenied", "NetworkPolicy", "async_client", "async_transport", "sync_client", "sync_transport"]

_REFUSED_ARGUMENTS: Final = ("transport", "proxy", "proxies", "mounts", "trust_env", "app")
_TRANSPORT_ARGUMENTS: Final = ("verify", "cert", "http1", "http2", "limits")

SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


def _addresses(infos: Iterable[tuple[Any, ...]]) -> list[str]:
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]).split("%", 1)[0], None)
    return list(seen)


class _AsyncGuard(httpcore.AsyncNetworkBackend):
    """Resolves, checks against the policy, then connects to the address itself."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()
        self._egress = egress_proxy()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self._egress is not None:
            return await self._tunnel(self._egress, host, port, timeout)
        self._policy.check_host(host, port)
        try:
            with anyio.fail_after(timeout):
                infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took longer than {timeout} s") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from exc
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in self._policy.permitted(host, _addresses(infos), port=port):
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # permitted() returns at least one address or raises
        raise failure

    async def _tunnel(self, egress: str, host: str, port: int, timeout: float | None) -> httpcore.AsyncNetworkStream:
        precheck(self._policy, host, port)
        try:
            stream = await self._inner.connect_unix_socket(egress, timeout)
        except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
            raise httpcore.ConnectError(f"the sandbox's egress proxy could not be reached: {exc}") from exc
        try:
            await stream.write(connect_request(host, port, self._policy), timeout)
            answer = b""
            while (b"\r\n\r\n" not in answer or not answer.startswith(b"HTTP/1.1 200")) and len(answer) < ANSWER_LIMIT:
                chunk = await stream.read(8192, timeout)
                if not chunk:
                    break
                answer += chunk
        except BaseException:
            await stream.aclose()
            raise
        failure = tunnel_failure(answer, host, port)
        if failure is None:
            return stream  # a tunnel: the target says nothing before the client has spoken
        await stream.aclose()
        if isinstance(failure, EgressDenied):
            raise failure
        raise httpcore.ConnectError(str(failure))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SocketOption] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise EgressDenied(f"refused to connect to the Unix socket {path}: plugins reach hosts by address only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _SyncGuard(httpcore.NetworkBackend):
    """The synchronous twin of :class:`_AsyncGuard`."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.SyncBackend()
        self._egress = egress_proxy()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        if self._egress is not None:
            return self._tunnel(self._egress, host, port, timeout)
        self._policy.check_host(host, port)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from exc
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in self._policy.permitted(host, _addresses(infos), port=port):
            try:
                return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # permitted() returns at least one address or raises
        raise failure

    def _tunnel(self, egress: str, host: str, port: int, timeout: float | None) -> httpcore.NetworkStream:
        precheck(self._policy, host, port)
        try:
            stream = self._inner.connect_unix_socket(egress, timeout)
        except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
            raise httpcore.ConnectError(f"the sandbox's egress proxy could not be reached: {exc}") from exc
        try:
            stream.write(connect_request(host, port, self._policy), timeout)
            answer = b""
            while (b"\r\n\r\n" not in answer or not answer.startswith(b"HTTP/1.1 200")) and len(answer) < ANSWER_LIMIT:
                chunk = stream.read(8192, timeout)
                if not chunk:
                    break
                answer += chunk
        except BaseException:
            stream.close()
            raise
        failure = tunnel_failure(answer, host, port)
        if failure is None:
            return stream
        stream.close()
        if isinstance(failure, EgressDenied):
            raise failure
        raise httpcore.ConnectError(str(failure))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SocketOption] | None = None
    ) -> httpcore.NetworkStream:
        raise EgressDenied(f"refused to connect to the Unix socket {path}: plugins reach hosts by address only")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _ssl_context(verify: ssl.SSLContext | str | bool, cert: Any) -> ssl.SSLContext:
    if isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, bool) and cert is None:
        return _shared_ssl_context(verify)
    return httpx.create_ssl_context(verify=verify, cert=cert, trust_env=False)


@functools.cache
def _shared_ssl_context(verify: bool) -> ssl.SSLContext:
    """One context per process for the usual settings: loading the CA bundle costs 10-50 ms.

    A client a plugin makes per call then costs microseconds rather than a bundle load;
    contexts are safe to share between connections, threads and event loops.
    """
    return httpx.create_ssl_context(verify=verify, trust_env=False)


class _GuardedAsyncTransport(httpx.AsyncHTTPTransport):
    # httpx's transport with its connection pool built on the guarded network backend;
    # everything else (request mapping, errors, streaming) is httpx's own.
    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),  # noqa: B008
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(verify, cert),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=http1,
            http2=http2,
            network_backend=_AsyncGuard(policy),
        )


class _GuardedSyncTransport(httpx.HTTPTransport):
    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),  # noqa: B008
    ) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(verify, cert),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=http1,
            http2=http2,
            network_backend=_SyncGuard(policy),
        )


class _ProxiedAsyncTransport(httpx.AsyncHTTPTransport):
    # httpx's transport through an upstream proxy (HTTP or SOCKS5), its connections made by the
    # guarded backend: in the OS sandbox the proxy itself is reached through the egress proxy.
    def __init__(self, policy: NetworkPolicy, proxy: str, *, limits: httpx.Limits) -> None:
        upstream = httpx.Proxy(url=proxy)
        url = httpcore.URL(
            scheme=upstream.url.raw_scheme, host=upstream.url.raw_host, port=upstream.url.port,
            target=upstream.url.raw_path,
        )  # fmt: skip
        common: dict[str, Any] = {
            "ssl_context": _ssl_context(True, None),
            "max_connections": limits.max_connections,
            "max_keepalive_connections": limits.max_keepalive_connections,
            "keepalive_expiry": limits.keepalive_expiry,
            "network_backend": _AsyncGuard(policy),
        }
        if upstream.url.scheme in ("http", "https"):
            self._pool = httpcore.AsyncHTTPProxy(
                proxy_url=url, proxy_auth=upstream.raw_auth, proxy_headers=upstream.headers.raw, **common
            )
        else:
            self._pool = httpcore.AsyncSOCKSProxy(proxy_url=url, proxy_auth=upstream.raw_auth, **common)


def _web_transport(policy: NetworkPolicy, *, proxy: str | None, limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    """The web fetcher's transport in the OS sandbox: direct or by a pool's proxy, out through the egress proxy."""
    if proxy is None:
        return _GuardedAsyncTransport(policy, limits=limits)
    return _ProxiedAsyncTransport(policy, proxy, limits=limits)


def async_transport(policy: NetworkPolicy, **options: Any) -> httpx.AsyncBaseTransport:
    """An httpx transport that applies ``policy``, for libraries that take a transport rather than a client.

    Args:
        policy: The network policy (a call's is ``context.network``).
        **options: ``verify``, ``cert``, ``http1``, ``http2``, ``limits``, as for httpx.
    """
    return _GuardedAsyncTransport(policy, **options)


def sync_transport(policy: NetworkPolicy, **options: Any) -> httpx.BaseTransport:
    """The synchronous twin of :func:`async_transport`."""
    return _GuardedSyncTransport(policy, **options)


def _split(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    refused = [name for name in _REFUSED_ARGUMENTS if name in options]
    if refused:
        raise TypeError(
            f"the network-policy client sets {', '.join(refused)} itself: a proxy or another transport would "
            "reach addresses the policy cannot check; leave them out"
        )
    transport: dict[str, Any] = {name: options.pop(name) for name in _TRANSPORT_ARGUMENTS if name in options}
    return options, transport


def async_client(policy: NetworkPolicy, **options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose every connection (redirects included) obeys ``policy``.

    In a capability, call ``context.http_client(...)`` instead: it passes the call's policy.

    Args:
        policy: The network policy.
        **options: What ``httpx.AsyncClient`` takes (``timeout``, ``headers``, ``verify``,
            ``follow_redirects``, ``base_url``, ``auth``, ...), except ``transport``,
            ``proxy``, ``mounts`` and ``trust_env``.

    Raises:
        TypeError: One of the refused arguments was given.
    """
    client_options, transport = _split(dict(options))
    return httpx.AsyncClient(transport=_GuardedAsyncTransport(policy, **transport), trust_env=False, **client_options)


def sync_client(policy: NetworkPolicy, **options: Any) -> httpx.Client:
    """An ``httpx.Client`` whose every connection obeys ``policy`` (see :func:`async_client`)."""
    client_options, transport = _split(dict(options))
    return httpx.Client(transport=_GuardedSyncTransport(policy, **transport), trust_env=False, **client_options)
