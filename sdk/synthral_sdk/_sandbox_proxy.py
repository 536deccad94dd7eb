"""Network for sandboxed code through an allow-list proxy, and the relay that reaches it.

A sandbox with its own (empty) network namespace gets a Unix socket bound in. Inside, the
relay (:data:`RELAY`, run by the sandbox's Python before the code) listens on
``127.0.0.1:PROXY_PORT`` and passes each connection to that socket; ``HTTP_PROXY`` and
``HTTPS_PROXY`` point the code's HTTP clients at it. Outside, :class:`AllowListProxy`
answers ``CONNECT host:port`` and plain ``GET http://host/...`` requests for the hosts the
run lists, and refuses everything else with 403. A listed name that resolves to a loopback,
private or link-local address is refused too (server-side request forgery), unless the
entry names that address itself.
"""

from __future__ import annotations

import contextlib
import ipaddress
import selectors
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from synthral_sdk.errors import InputInvalid
from synthral_sdk.network import blocked_reason

__all__ = ["PROXY_PORT", "RELAY", "AllowListProxy", "HostRule", "parse_rules"]

PROXY_PORT: Final = 3128
HEAD_LIMIT: Final = 64 * 1024
IDLE_TIMEOUT: Final = 60.0
MAX_CONNECTIONS: Final = 64

RELAY: Final = r"""
import os, socket, sys, threading
path, port, command = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(64)
if os.fork() != 0:
    listener.close()
    os.execv(command[0], command)
def pump(source, target):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
def serve(client):
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(path)
    except OSError:
        client.close()
        return
    threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
    pump(upstream, client)
os.setsid()
while True:
    client, _ = listener.accept()
    threading.Thread(target=serve, args=(client,), daemon=True).start()
"""
"""``python RELAY SOCKET PORT COMMAND...``: listen on ``127.0.0.1:PORT``, then exec ``COMMAND``."""


@dataclass(frozen=True)
class HostRule:
    """One allowed host: an exact name or address, or ``*.suffix``; a port or the web's two."""

    host: str
    port: int | None

    def matches(self, host: str, port: int) -> bool:
        """Whether ``host:port`` is allowed by this rule."""
        if self.port is None and port not in {80, 443}:
            return False
        if self.port is not None and port != self.port:
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and host != self.host[2:]
        return host == self.host


def parse_rules(entries: Sequence[str]) -> list[HostRule]:
    """The rules of a request's ``network`` list.

    Raises:
        InputInvalid: An entry is not ``host``, ``host:port``, ``*.domain`` or ``[v6]:port``.
    """
    rules = []
    for index, entry in enumerate(entries):
        text = entry.strip().lower()
        try:
            parts = urlsplit(f"//{text}")
            host, port = parts.hostname, parts.port
        except ValueError:
            host, port = None, None
        if not host or parts.path or parts.query or parts.username or "/" in text:
            raise InputInvalid(
                f"network[{index}] {entry!r} is not a host; write 'api.example.com', 'api.example.com:8443' or "
                "'*.example.com'",
                details={"field": f"network.{index}"},
            )
        rules.append(HostRule(host, port))
    return rules


def _is_literal(host: str) -> bool:
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return True
    return False


class AllowListProxy:
    """An HTTP proxy on a Unix socket that connects only to allowed hosts.

    Args:
        path: Where to listen (a folder the sandbox gets bound in).
        rules: The allowed hosts.
    """

    def __init__(self, path: Path, rules: Sequence[HostRule]) -> None:
        self.path = path
        self.rules = list(rules)
        self.refused: list[str] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        path.chmod(0o777)  # the sandbox's own user connects; the folder around it is the run's alone
        self._server.listen(MAX_CONNECTIONS)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="sandbox-proxy", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop accepting; open tunnels end with the sandbox."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> AllowListProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            client.settimeout(IDLE_TIMEOUT)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < HEAD_LIMIT:
                chunk = client.recv(8192)
                if not chunk:
                    return
                head += chunk
            header, _, rest = head.partition(b"\r\n\r\n")
            lines = header.decode("latin-1").split("\r\n")
            method, target, version = [*lines[0].split(" "), "", "", ""][:3]
            if method.upper() == "CONNECT":
                host, _, port_text = target.rpartition(":")
                host = host.strip("[]").lower()
                port = int(port_text) if port_text.isdigit() else 443
                upstream = self._open(client, host, port)
                if upstream is None:
                    return
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
            else:
                parts = urlsplit(target)
                if parts.scheme != "http" or not parts.hostname:
                    _refuse(client, 400, "send absolute http:// URLs or CONNECT through this proxy")
                    return
                port = parts.port or 80
                upstream = self._open(client, parts.hostname.lower(), port)
                if upstream is None:
                    return
                path = parts.path or "/"
                if parts.query:
                    path += "?" + parts.query
                kept = [
                    line
                    for line in lines[1:]
                    if not line.lower().startswith(("proxy-connection:", "proxy-authorization:", "connection:"))
                ]
                request = "\r\n".join([f"{method} {path} {version}", *kept, "Connection: close", "", ""])
                upstream.sendall(request.encode("latin-1") + rest)
            _relay(client, upstream)
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                client.close()
            self._slots.release()

    def _open(self, client: socket.socket, host: str, port: int) -> socket.socket | None:
        rule = next((rule for rule in self.rules if rule.matches(host, port)), None)
        if rule is None:
            self.refused.append(f"{host}:{port}")
            _refuse(client, 403, f"{host}:{port} is not in this run's network list")
            return None
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
        except OSError:
            _refuse(client, 502, f"{host} does not resolve")
            return None
        if not _is_literal(rule.host):
            # The SDK's one SSRF judgement (synthral_sdk.network), embedded IPv4 forms included.
            for address in addresses:
                ip = ipaddress.ip_address(str(address).split("%")[0])
                if blocked_reason(ip) is not None:
                    self.refused.append(f"{host}:{port}")
                    _refuse(client, 403, f"{host} resolves to {ip}, an internal address")
                    return None
        # To the addresses just checked, not the name again: a second lookup could answer otherwise.
        for address in sorted(str(address).split("%")[0] for address in addresses):
            with contextlib.suppress(OSError):
                return socket.create_connection((address, port), timeout=IDLE_TIMEOUT)
        _refuse(client, 502, f"{host}:{port} does not answer")
        return None


def _refuse(client: socket.socket, status: int, reason: str) -> None:
    body = reason.encode()
    phrase = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[status]
    head = f"HTTP/1.1 {status} {phrase}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    with contextlib.suppress(OSError):
        client.sendall(head.encode() + body)


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    pair = {client: upstream, upstream: client}
    with upstream, selectors.DefaultSelector() as selector:
        for sock in pair:
            selector.register(sock, selectors.EVENT_READ)
        while selector.get_map():
            events = selector.select(IDLE_TIMEOUT)
            if not events:
                return
            for key, _ in events:
                source = key.fileobj
                assert isinstance(source, socket.socket)
                data = source.recv(65536)
                if not data:
                    selector.unregister(source)
                    with contextlib.suppress(OSError):
                        pair[source].shutdown(socket.SHUT_WR)
                    continue
                pair[source].sendall(data)
