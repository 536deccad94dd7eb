"""A forward proxy on 127.0.0.1 that every request of a browser goes through.

A browser fetches far more than the page it was sent to: images, scripts, frames, fetches,
WebSockets, redirects. Pointing Chromium at this proxy (``--proxy-server`` with
``--proxy-bypass-list=<-loopback>``, so not even loopback bypasses it) puts each of those
connections under the call's network policy: the proxy resolves the host itself, checks the
addresses, and connects only to a permitted one, or answers 403 naming the refusal. It also
chains to the call's upstream proxy (HTTP CONNECT or SOCKS5) when a proxy pool is in use.
In the host's OS sandbox it reaches out through the host's egress proxy instead, which
resolves and judges each name by the same policy (:mod:`synthral_sdk._egress`).

Plain-HTTP requests are served one per client connection (the proxy answers with
``Connection: close``) so a kept-alive connection can never be reused for another host.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final
from urllib.parse import urlsplit

from synthral_sdk._egress import egress_proxy, open_tunnel, precheck
from synthral_sdk.errors import EgressDenied
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.web._fetch import AddressPolicy, _resolve
from synthral_sdk.web._proxies import Proxy

__all__ = ["EgressProxy", "Refusal"]

_HEAD_LIMIT: Final = 65536
_PIPE_CHUNK: Final = 65536
log = logging.getLogger("synthral.web.egress")


@dataclass(frozen=True)
class Refusal:
    """A connection the proxy refused, and why."""

    host: str
    port: int
    reason: str


class _Refused(Exception):
    pass


@dataclass
class EgressProxy:
    """Serve a policy-checking forward proxy while the ``async with`` block runs.

    Args:
        network: The call's network policy; None checks nothing (the caller has none).
        upstream: A function choosing the upstream proxy for a host, or None for direct.
    """

    network: AddressPolicy | None = None
    upstream: Callable[[str], Proxy | None] | None = None
    refusals: list[Refusal] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, for ``--proxy-server`` or Playwright's ``proxy``."""
        return f"http://127.0.0.1:{self.port}"

    def chromium_args(self) -> list[str]:
        """Chromium flags that send every request through this proxy, loopback included."""
        return [f"--proxy-server={self.url}", "--proxy-bypass-list=<-loopback>"]

    async def start(self) -> EgressProxy:
        """Listen on a free port of 127.0.0.1."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def close(self) -> None:
        """Stop listening and cut every open tunnel."""
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> EgressProxy:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.connections += 1
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > _HEAD_LIMIT:
            return
        request_line, _, rest = head.partition(b"\r\n")
        try:
            method, target, version = request_line.decode("latin-1").split(" ", 2)
        except ValueError:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
            return
        if method.upper() == "CONNECT":
            host, _, port_text = target.rpartition(":")
            host, port = host.strip("[]"), int(port_text or 443)
            try:
                upstream_reader, upstream_writer = await self._open(host, port, tunnel=True)
            except _Refused as refusal:
                await self._refuse(writer, str(refusal))
                return
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            await writer.drain()
            await self._pipe(reader, writer, upstream_reader, upstream_writer)
            return
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
            return
        host, port = parts.hostname, parts.port or 80
        try:
            upstream_reader, upstream_writer = await self._open(host, port, tunnel=False)
        except _Refused as refusal:
            await self._refuse(writer, str(refusal))
            return
        proxy = self.upstream(host) if self.upstream else None
        path = target if proxy is not None and proxy.scheme.startswith("http") else (parts.path or "/")
        if parts.query and not (proxy is not None and proxy.scheme.startswith("http")):
            path += f"?{parts.query}"
        headers = [
            line
            for line in rest.split(b"\r\n")
            if line and not line.lower().startswith((b"proxy-", b"connection:", b"keep-alive:"))
        ]
        headers.append(b"Connection: close")
        if proxy is not None and proxy.scheme.startswith("http") and proxy.username is not None:
            headers.append(b"Proxy-Authorization: " + _basic(proxy))
        upstream_writer.write(f"{method} {path} {version}\r\n".encode("latin-1") + b"\r\n".join(headers) + b"\r\n\r\n")
        await upstream_writer.drain()
        await self._pipe(reader, writer, upstream_reader, upstream_writer)

    async def _refuse(self, writer: asyncio.StreamWriter, reason: str) -> None:
        body = f"refused by the workspace's network policy: {reason}\n".encode()
        writer.write(
            b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            b"X-Synthral-Refused: egress\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def _allowed_addresses(self, host: str, port: int) -> list[str]:
        addresses = await _resolve(host, port)
        if self.network is None:
            return addresses
        try:
            return _permitted(self.network, host, addresses, port)
        except Exception as exc:  # noqa: BLE001 -- whatever the policy raises is its refusal, answered as 403
            self.refusals.append(Refusal(host, port, str(exc)))
            log.info("egress refused: %s:%s: %s", host, port, exc)
            raise _Refused(str(exc)) from None

    async def _open(self, host: str, port: int, *, tunnel: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        sandbox = egress_proxy()
        if sandbox is not None:
            return await self._open_sandboxed(sandbox, host, port, tunnel=tunnel)
        addresses = await self._allowed_addresses(host, port)  # the target, even through a proxy
        proxy = self.upstream(host) if self.upstream else None
        if proxy is None:
            failure: OSError | None = None
            for address in addresses:
                try:
                    return await asyncio.open_connection(address, port)
                except OSError as exc:
                    failure = exc
            raise _Refused(f"could not connect to {host}:{port}: {failure}")
        proxy_addresses = await self._allowed_addresses(proxy.host, proxy.port)
        reader, writer = await asyncio.open_connection(proxy_addresses[0], proxy.port)
        target = host if proxy.scheme == "socks5h" else addresses[0]
        await _through_upstream(reader, writer, proxy, host, port, target=target, tunnel=tunnel)
        return reader, writer

    async def _open_sandboxed(
        self, socket_path: str, host: str, port: int, *, tunnel: bool
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """In the host's OS sandbox: through its egress proxy, which resolves and judges names by this policy."""
        policy = self.network if isinstance(self.network, NetworkPolicy) else None
        proxy = self.upstream(host) if self.upstream else None
        try:
            precheck(policy, host, port)  # the target, even through a proxy
            reader, writer = await open_tunnel(
                host if proxy is None else proxy.host, port if proxy is None else proxy.port, policy, path=socket_path
            )
        except EgressDenied as exc:
            self.refusals.append(Refusal(host, port, str(exc)))
            log.info("egress refused: %s:%s: %s", host, port, exc)
            raise _Refused(str(exc)) from None
        except ConnectionError as exc:
            raise _Refused(str(exc)) from None
        if proxy is not None:  # names are resolved by the upstream proxy: the sandbox has no DNS
            await _through_upstream(reader, writer, proxy, host, port, target=host, tunnel=tunnel)
        return reader, writer

    async def _pipe(
        self,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        upstream_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
    ) -> None:
        async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(_PIPE_CHUNK):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    sink.write_eof()

        try:
            await asyncio.gather(copy(client_reader, upstream_writer), copy(upstream_reader, client_writer))
        finally:
            upstream_writer.close()


def _permitted(network: AddressPolicy, host: str, addresses: list[str], port: int) -> list[str]:
    if isinstance(network, NetworkPolicy):
        return network.permitted(host, addresses, port=port)  # the plugin's granted hosts too
    return network.permitted(host, addresses)


async def _through_upstream(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    proxy: Proxy,
    host: str,
    port: int,
    *,
    target: str,
    tunnel: bool,
) -> None:
    """Ask the upstream proxy ``reader``/``writer`` lead to for ``host:port`` (``target``: the address SOCKS gets)."""
    if proxy.scheme.startswith("socks"):
        await _socks5_connect(reader, writer, proxy, target, port)
    elif tunnel:
        auth = b"Proxy-Authorization: " + _basic(proxy) + b"\r\n" if proxy.username is not None else b""
        writer.write(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode() + auth + b"\r\n")
        await writer.drain()
        answer = await reader.readuntil(b"\r\n\r\n")
        if b" 200" not in answer.split(b"\r\n", 1)[0]:
            writer.close()
            raise _Refused(f"the upstream proxy {proxy.label} refused CONNECT {host}:{port}")


def _basic(proxy: Proxy) -> bytes:
    return b"Basic " + base64.b64encode(f"{proxy.username or ''}:{proxy.password or ''}".encode())


async def _socks5_connect(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, proxy: Proxy, host: str, port: int
) -> None:
    methods = b"\x00\x02" if proxy.username is not None else b"\x00"
    writer.write(b"\x05" + bytes([len(methods)]) + methods)
    await writer.drain()
    version, method = await reader.readexactly(2)
    if version != 5 or method == 0xFF:
        raise _Refused(f"the SOCKS proxy {proxy.label} accepts none of our login methods")
    if method == 2:
        user, password = (proxy.username or "").encode(), (proxy.password or "").encode()
        writer.write(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
        await writer.drain()
        _, status = await reader.readexactly(2)
        if status != 0:
            raise _Refused(f"the SOCKS proxy {proxy.label} refused the login")
    try:
        ip = ipaddress.ip_address(host)
        address = (b"\x01" if ip.version == 4 else b"\x04") + ip.packed
    except ValueError:
        name = host.encode("idna")
        address = b"\x03" + bytes([len(name)]) + name
    writer.write(b"\x05\x01\x00" + address + struct.pack("!H", port))
    await writer.drain()
    reply = await reader.readexactly(4)
    if reply[1] != 0:
        raise _Refused(f"the SOCKS proxy {proxy.label} could not connect to {host}:{port} (code {reply[1]})")
    kind = reply[3]
    skip = 4 if kind == 1 else 16 if kind == 4 else (await reader.readexactly(1))[0]
    await reader.readexactly(skip + 2)
