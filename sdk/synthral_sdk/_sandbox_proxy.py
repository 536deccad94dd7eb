"""Network for sandboxed code through an allow-list proxy, and the relay that reaches it.

A sandbox with its own (empty) network namespace gets a Unix socket bound in. Inside, the
relay (:data:`RELAY`, run by the sandbox's Python before the code) listens on
``127.0.0.1:PROXY_PORT`` and passes each connection to that socket; ``HTTP_PROXY`` and
``HTTPS_PROXY`` point the code's HTTP clients at it. Outside, :class:`AllowListProxy`
answers ``CONNECT host:port`` and plain ``GET http://host/...`` requests for the hosts the
run lists, and refuses everything else with 403. A listed name that resolves to a loopback,
private or link-local address is refused too (server-side request forgery), unless the
entry names that address itself.

The host runs the same proxy for every sandboxed plugin process that may use the network,
judging hosts and addresses by the plugin's network policy (:mod:`synthral_sdk.network`). A
request may name the call's own policy in the ``Synthral-Network-Policy`` header (the SDK's
clients do, :mod:`synthral_sdk._egress`); it is applied as well, so a call can only narrow
what the process may reach. A proxy that itself runs in such a process (a code runtime's, for
the code it runs) passes its connections on to the host's proxy (``upstream``) instead of
resolving names it cannot resolve there.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import selectors
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol
from urllib.parse import urlsplit

from synthral_sdk._egress import POLICY_HEADER, connect_request, policy_of, read_answer, unframe
from synthral_sdk.errors import InputInvalid
from synthral_sdk.network import NetworkPolicy, blocked_reason

__all__ = ["PROXY_PORT", "RELAY", "AddressJudge", "AllowListProxy", "HostRule", "Rule", "parse_rules"]

PROXY_PORT: Final = 3128
HEAD_LIMIT: Final = 64 * 1024
IDLE_TIMEOUT: Final = 60.0
TUNNEL_IDLE_TIMEOUT: Final = 3600.0
"""A ``CONNECT`` tunnel may stay quiet longer: a database or mail connection idles between uses."""
MAX_CONNECTIONS: Final = 64
UDP_SCHEME: Final = "udp://"
"""``POST udp://host:port``: the body's datagrams go there (:mod:`synthral_sdk.udp`)."""
UDP_BODY_LIMIT: Final = 1024 * 1024

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
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no delayed-ACK stall on small writes
    threading.Thread(target=serve, args=(client,), daemon=True).start()
"""
"""``python RELAY SOCKET PORT COMMAND...``: listen on ``127.0.0.1:PORT``, then exec ``COMMAND``."""


class Rule(Protocol):
    """Anything that says whether ``host:port`` may be reached (:class:`HostRule`, a permission's host)."""

    def matches(self, host: str, port: int) -> bool:
        """Whether ``host:port`` is allowed."""
        ...


AddressJudge = Callable[[str, int, str], str | None]
"""``(host, port, address) -> why the connection is refused``, or None when it may go ahead."""


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
        rules: The allowed hosts; ``None`` allows any host the judge accepts.
        judge: Decides on each address a host resolved to; by default internal addresses are
            refused unless the matching rule names that address.
        upstream: The Unix socket of a proxy to pass connections to, with ``CONNECT``, instead
            of connecting (and resolving names) here; ``$SYNTHRAL_EGRESS_PROXY`` when ``None``,
            and no proxy when ``""``.
        on_refused: Called with ``host:port`` and the reason whenever a connection is refused.
    """

    def __init__(
        self,
        path: Path,
        rules: Sequence[Rule] | None,
        *,
        judge: AddressJudge | None = None,
        upstream: str | None = None,
        on_refused: Callable[[str, str], None] | None = None,
    ) -> None:
        self.path = path
        self.rules = None if rules is None else list(rules)
        self.judge = judge
        self.upstream = (upstream if upstream is not None else os.environ.get("SYNTHRAL_EGRESS_PROXY")) or None
        self.on_refused = on_refused
        self.refused: deque[str] = deque(maxlen=256)
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            _bind_unix(self._server, path)
        except OSError:
            self._server.close()
            raise
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
            call = policy_of(lines[1:])
            if method.upper() == "POST" and target.lower().startswith(UDP_SCHEME):
                self._udp(client, target, head, headers=lines[1:], rest=rest, call=call)
                return
            if method.upper() == "CONNECT":
                host, _, port_text = target.rpartition(":")
                host = host.strip("[]").lower()
                port = int(port_text) if port_text.isdigit() else 443
                upstream = self._open(client, host, port, call)
                if upstream is None:
                    return
                with _closed_on_error(upstream):
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    if rest:
                        upstream.sendall(rest)
            else:
                parts = urlsplit(target)
                if parts.scheme != "http" or not parts.hostname:
                    _refuse(client, 400, "send absolute http:// URLs or CONNECT through this proxy")
                    return
                port = parts.port or 80
                upstream = self._open(client, parts.hostname.lower(), port, call)
                if upstream is None:
                    return
                path = parts.path or "/"
                if parts.query:
                    path += "?" + parts.query
                kept = [
                    line
                    for line in lines[1:]
                    if not line.lower().startswith(
                        ("proxy-connection:", "proxy-authorization:", "connection:", POLICY_HEADER.lower() + ":")
                    )
                ]
                request = "\r\n".join([f"{method} {path} {version}", *kept, "Connection: close", "", ""])
                with _closed_on_error(upstream):
                    upstream.sendall(request.encode("latin-1") + rest)
                _relay(client, upstream, answer=_ClosingHead())
                return
            _relay(client, upstream, idle=TUNNEL_IDLE_TIMEOUT)
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                client.close()
            self._slots.release()

    def _refuse(self, client: socket.socket, host: str, port: int, status: int, reason: str) -> None:
        self.refused.append(f"{host}:{port}")
        if self.on_refused is not None:
            with contextlib.suppress(Exception):  # a failing observer must not break the proxy
                self.on_refused(f"{host}:{port}", reason)
        _refuse(client, status, reason)

    def _admit(
        self, client: socket.socket, host: str, port: int, call: NetworkPolicy | None
    ) -> tuple[bool, Rule | None]:
        """Whether the rules and the call's policy let ``host:port`` through (refused here if not), and the rule."""
        rule = None
        if self.rules is not None:
            rule = next((rule for rule in self.rules if rule.matches(host, port)), None)
            if rule is None:
                self._refuse(client, host, port, 403, f"{host}:{port} is not in this sandbox's network list")
                return False, None
        if call is not None and not call.granted(host, port):
            self._refuse(client, host, port, 403, f"{host}:{port} is not among the hosts the call's policy grants")
            return False, None
        return True, rule

    def _addresses(
        self, client: socket.socket, rule: Rule | None, host: str, port: int, *, call: NetworkPolicy | None, kind: int
    ) -> list[str] | None:
        """Every address ``host`` resolves to, each judged; None (refused here) when one is refused or none is."""
        try:
            addresses = sorted({str(info[4][0]).split("%")[0] for info in socket.getaddrinfo(host, port, type=kind)})
        except OSError:
            _refuse(client, 502, f"{host} does not resolve")
            return None
        for address in addresses:
            reason = self._judge(rule, host, port, address) or _call_refusal(call, host, address)
            if reason is not None:
                self._refuse(client, host, port, 403, reason)
                return None
        return addresses

    def _udp(
        self,
        client: socket.socket,
        target: str,
        head: bytes,
        *,
        headers: list[str],
        rest: bytes,
        call: NetworkPolicy | None,
    ) -> None:
        """``POST udp://host:port``: send the body's datagrams there, within the rules and the call's policy."""
        parts = urlsplit(target)
        try:
            host, port = (parts.hostname or "").lower(), parts.port or 0
        except ValueError:
            host, port = "", 0
        length = next(
            (line.split(":", 1)[1].strip() for line in headers if line.lower().startswith("content-length:")), ""
        )
        if not host or not 0 < port < 65536 or not length.isdigit() or int(length) > UDP_BODY_LIMIT:
            _refuse(client, 400, f"send POST udp://host:port with a Content-Length of at most {UDP_BODY_LIMIT} bytes")
            return
        body = rest
        while len(body) < int(length):
            chunk = client.recv(65536)
            if not chunk:
                return
            body += chunk
        datagrams = unframe(body[: int(length)])
        if datagrams is None:
            _refuse(client, 400, "the body is not length-prefixed datagrams (4-byte big-endian length, then the bytes)")
            return
        admitted, rule = self._admit(client, host, port, call)
        if not admitted:
            return
        if self.upstream is not None:
            _relay_request(self.upstream, client, head + body[: int(length)])
            return
        addresses = self._addresses(client, rule, host, port, call=call, kind=socket.SOCK_DGRAM)
        if addresses is None:
            return
        # UDP cannot tell a listener from none: an IPv4 address when there is one, as syslog senders do.
        address = next((a for a in addresses if ":" not in a), addresses[0])
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                for datagram in datagrams:
                    sock.sendto(datagram, (address, port))
        except OSError as exc:
            _refuse(client, 502, f"{host}:{port} could not be sent to: {exc}")
            return
        with contextlib.suppress(OSError):
            client.sendall(b"HTTP/1.1 200 Sent\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def _open(
        self, client: socket.socket, host: str, port: int, call: NetworkPolicy | None = None
    ) -> socket.socket | None:
        admitted, rule = self._admit(client, host, port, call)
        if not admitted:
            return None
        if self.upstream is not None:
            return _through(self.upstream, client, host, port, call)
        addresses = self._addresses(client, rule, host, port, call=call, kind=socket.SOCK_STREAM)
        if addresses is None:
            return None
        # To the addresses just checked, not the name again: a second lookup could answer otherwise.
        for address in addresses:
            with contextlib.suppress(OSError):
                upstream = socket.create_connection((address, port), timeout=IDLE_TIMEOUT)
                with _closed_on_error(upstream):
                    # Relayed writes go out as they come: with Nagle's algorithm a response's second
                    # segment waited for the peer's delayed ACK (about 40 ms a request).
                    upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return upstream
        _refuse(client, 502, f"{host}:{port} does not answer")
        return None

    def _judge(self, rule: Rule | None, host: str, port: int, address: str) -> str | None:
        if self.judge is not None:
            return self.judge(host, port, address)
        if isinstance(rule, HostRule) and _is_literal(rule.host):
            return None  # the entry names the address itself
        # The SDK's one SSRF judgement (synthral_sdk.network), embedded IPv4 forms included.
        ip = ipaddress.ip_address(address)
        if blocked_reason(ip) is not None:
            return f"{host} resolves to {ip}, an internal address"
        return None


def _call_refusal(call: NetworkPolicy | None, host: str, address: str) -> str | None:
    """Why the call's own policy (sent by the SDK's clients) refuses ``address``, or None."""
    reason = None if call is None else call.refusal(host, address)
    if reason is None:
        return None
    return (
        f"{host} ({address}) is a {reason} address, which plugins may not reach unless the operator allows it "
        "for the workspace (SYNTHRAL_EGRESS_ALLOW, SYNTHRAL_EGRESS_ALLOW_<WORKSPACE>)"
    )


def _bind_unix(sock: socket.socket, path: Path) -> None:
    """Bind to ``path`` even past the 107 bytes a Unix socket address holds (through the folder's descriptor)."""
    if len(os.fsencode(path)) < 100 or not Path("/proc/self/fd").is_dir():
        sock.bind(str(path))
        return
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        sock.bind(f"/proc/self/fd/{folder}/{path.name}")
    finally:
        os.close(folder)


@contextlib.contextmanager
def _closed_on_error(sock: socket.socket) -> Iterator[None]:
    """Close ``sock`` when the block fails: a connection handed on is closed by whoever takes it."""
    try:
        yield
    except BaseException:
        sock.close()
        raise


def _relay_request(upstream: str, client: socket.socket, request: bytes) -> None:
    """Pass a whole request to the proxy at ``upstream`` and its answer back."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.settimeout(IDLE_TIMEOUT)
            sock.connect(upstream)
            sock.sendall(request)
            while chunk := sock.recv(65536):
                client.sendall(chunk)
        except OSError:
            _refuse(client, 502, "the egress proxy could not be reached")


def _through(
    upstream: str, client: socket.socket, host: str, port: int, call: NetworkPolicy | None = None
) -> socket.socket | None:
    """A tunnel to ``host:port`` through the proxy at ``upstream``; its refusal is passed on."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(IDLE_TIMEOUT)
        sock.connect(upstream)
        sock.sendall(connect_request(host, port, call))
        answer = read_answer(sock)  # the head alone: what follows is the target's
    except OSError:
        sock.close()
        _refuse(client, 502, f"the egress proxy could not be reached for {host}:{port}")
        return None
    if not answer.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
        sock.close()
        with contextlib.suppress(OSError):
            client.sendall(answer)  # the host proxy's refusal, as it said it
        return None
    return sock


class _ClosingHead:
    """Rewrites an answer's head to say ``Connection: close``: the connection serves one request.

    A client that kept the connection for its next request (to any host) would find it closed.
    """

    def __init__(self) -> None:
        self._head: bytes | None = b""

    def feed(self, data: bytes) -> bytes:
        """What to pass on of ``data`` (nothing while the head is incomplete)."""
        if self._head is None:
            return data
        self._head += data
        head, found, body = self._head.partition(b"\r\n\r\n")
        if not found and len(self._head) < HEAD_LIMIT:
            return b""
        self._head = None
        if not found:
            return head
        lines = [
            line
            for line in head.split(b"\r\n")
            if not line.lower().startswith((b"connection:", b"keep-alive:", b"proxy-connection:"))
        ]
        return b"\r\n".join([*lines, b"Connection: close", b"Proxy-Connection: close"]) + b"\r\n\r\n" + body

    def flush(self) -> bytes:
        """What is held back of a head the server never finished."""
        held, self._head = self._head or b"", None
        return held


def _refuse(client: socket.socket, status: int, reason: str) -> None:
    body = reason.encode()
    phrase = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[status]
    head = f"HTTP/1.1 {status} {phrase}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    with contextlib.suppress(OSError):
        client.sendall(head.encode() + body)


def _relay(
    client: socket.socket, upstream: socket.socket, *, answer: _ClosingHead | None = None, idle: float | None = None
) -> None:
    """Pump both ways until both sides are done (the rest of a request body goes on while its answer comes).

    A connection quiet for ``idle`` seconds both ways (:data:`IDLE_TIMEOUT` by default) is closed.
    """
    idle = IDLE_TIMEOUT if idle is None else idle
    pair = {client: upstream, upstream: client}
    with upstream, selectors.DefaultSelector() as selector:
        for sock in pair:
            selector.register(sock, selectors.EVENT_READ)
        while selector.get_map():
            events = selector.select(idle)
            if not events:
                return
            for key, _ in events:
                source = key.fileobj
                assert isinstance(source, socket.socket)
                data = source.recv(65536)
                if not data:
                    selector.unregister(source)
                    with contextlib.suppress(OSError):
                        if source is upstream and answer is not None:
                            client.sendall(answer.flush())
                        pair[source].shutdown(socket.SHUT_WR)
                    continue
                if source is upstream and answer is not None:
                    data = answer.feed(data)
                pair[source].sendall(data)
