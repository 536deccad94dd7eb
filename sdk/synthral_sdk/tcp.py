"""Raw TCP connections that obey the call's network policy: databases, mail, caches, syslog.

The HTTP clients (:mod:`synthral_sdk.http`) cover HTTP. A plugin that speaks another
protocol over TCP (PostgreSQL, MySQL, Redis, MongoDB, SMTP, IMAP) opens its connections
here, so the workspace's SSRF policy and the plugin's granted hosts hold for them too, and
the plugin runs in the host's OS sandbox instead of asking to run outside it::

    def run(self, inputs, config, context):
        # A driver that takes a connected socket:
        sock = context.tcp_connect(host, 6379)
        # Any driver, even one written in C: it connects to a local port that leads there.
        with context.tcp_forward(host, 5432) as (local_host, local_port):
            psycopg.connect(host=host, hostaddr=local_host, port=local_port, ...)

How it holds: outside the sandbox the name is resolved here and every address is judged by
the policy before one is connected to (the same judgement as the HTTP clients'). In the
sandbox, whose network namespace has no route out, the connection is a ``CONNECT`` tunnel
through the host's egress proxy, which resolves and judges the same way (see
:mod:`synthral_sdk._egress`); what passes through it is the protocol's own bytes, TLS included.

A forward listens on loopback inside the plugin's process (in the sandbox, its own network
namespace: nothing else on the machine reaches it) and opens one connection to the target
for each connection a driver makes to it. The first is opened when the forward is made, so a
refusal is raised there, as :class:`~synthral_sdk.errors.EgressDenied`, rather than seen by
the driver as a dropped connection. A driver that verifies a TLS certificate checks it
against the name it connected to: give it the real host name for that (libpq's ``host``
beside ``hostaddr``, a ``server_hostname``), never the forward's address.

What it cannot carry: names resolved by the driver through DNS records other than addresses
(MongoDB's ``mongodb+srv://``): resolve those in the plugin and forward each host. UDP has
its own module, :mod:`synthral_sdk.udp`.

.. versionadded:: 1.11
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Final

from synthral_sdk._egress import connect_request, egress_proxy, precheck, read_answer, tunnel_failure
from synthral_sdk.network import NetworkPolicy

__all__ = ["Forward", "connect", "forward", "sandboxed"]

CONNECT_TIMEOUT: Final = 10.0
FIRST_SHELF_LIFE: Final = 5.0
"""Seconds the connection a forward opens on entering waits for the driver before a fresh one is opened."""
_CHUNK: Final = 65536


def sandboxed() -> bool:
    """Whether this process runs in the OS sandbox: out only through the egress proxy, no DNS of its own.

    A plugin whose driver looks up DNS records itself (``mongodb+srv://``) can say so clearly.
    """
    return egress_proxy() is not None


def connect(policy: NetworkPolicy, host: str, port: int, *, timeout: float = CONNECT_TIMEOUT) -> socket.socket:
    """A connected, blocking socket to ``host:port``, if ``policy`` lets the plugin reach it.

    Args:
        policy: Where the call may connect (a call's is ``context.network``).
        host: A name or an address.
        port: The TCP port.
        timeout: Seconds for resolving and connecting (the socket returned has no timeout).

    Raises:
        EgressDenied: The policy refuses the host or every address it resolves to.
        ConnectionError: It could not be resolved or reached.
    """
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is not a TCP port (1-65535)")
    precheck(policy, host, port)
    proxy = egress_proxy()
    sock = _tunnel(proxy, policy, host, port, timeout) if proxy else _direct(policy, host, port, timeout)
    sock.settimeout(None)
    return sock


def _direct(policy: NetworkPolicy, host: str, port: int, timeout: float) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConnectionError(f"could not resolve {host}: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
    failure: OSError | None = None
    # Only to addresses just judged: resolving again could answer otherwise (DNS rebinding).
    for address in policy.permitted(host, addresses, port=port):
        try:
            sock = socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            failure = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise ConnectionError(f"could not connect to {host}:{port}: {failure}")


def _tunnel(proxy: str, policy: NetworkPolicy, host: str, port: int, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(proxy)
        sock.sendall(connect_request(host, port, policy))
        answer = read_answer(sock)  # the head alone: a server speaking first may follow at once
    except OSError as exc:
        sock.close()
        raise ConnectionError(f"the sandbox's egress proxy could not be reached for {host}:{port}: {exc}") from None
    failure = tunnel_failure(answer, host, port)
    if failure is not None:
        sock.close()
        raise failure
    return sock


class Forward:
    """A loopback port whose every connection leads to ``host:port``, within the policy.

    Use :func:`forward` (or ``context.tcp_forward``) as a context manager; ``address`` is
    the ``(host, port)`` to give the driver. Closing it stops accepting and ends the
    connections made through it.
    """

    def __init__(self, policy: NetworkPolicy, host: str, port: int, *, timeout: float = CONNECT_TIMEOUT) -> None:
        self.policy, self.host, self.port, self.timeout = policy, host, port, timeout
        self._first: socket.socket | None = connect(policy, host, port, timeout=timeout)
        self._first_at = time.monotonic()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.address: tuple[str, int] = ("127.0.0.1", int(self._listener.getsockname()[1]))
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name=f"synthral-forward-{host}:{port}", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                first, self._first = self._first, None
            if first is not None and time.monotonic() - self._first_at > FIRST_SHELF_LIFE:
                first.close()  # opened to judge the target; a server may have dropped it since
                first = None
            try:
                upstream = first or connect(self.policy, self.host, self.port, timeout=self.timeout)
            except Exception:  # noqa: BLE001 -- unreachable now, or refused: the driver sees the connection end
                client.close()
                continue
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                self._open.update((client, upstream))
            pair = _Pair(self, client, upstream)
            threading.Thread(target=pair.pump, args=(upstream, client), daemon=True).start()
            threading.Thread(target=pair.pump, args=(client, upstream), daemon=True).start()

    def _release(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._open.difference_update(sockets)
        for sock in sockets:
            sock.close()

    def close(self) -> None:
        """Stop accepting and end every connection made through the forward."""
        with self._lock:
            self._closed = True
            sockets = [*self._open, *([self._first] if self._first else [])]
            self._open.clear()
            self._first = None
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def __enter__(self) -> tuple[str, int]:
        return self.address

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Pair:
    """A driver's connection and its upstream: both closed once both directions have ended."""

    def __init__(self, owner: Forward, client: socket.socket, upstream: socket.socket) -> None:
        self.owner, self.sockets, self.running = owner, (client, upstream), 2
        self.lock = threading.Lock()

    def pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(_CHUNK):
                target.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)  # the other direction may still have bytes to bring
            with self.lock:
                self.running -= 1
                last = self.running == 0
            if last:
                self.owner._release(*self.sockets)  # noqa: SLF001 -- the pair belongs to its forward


@contextlib.contextmanager
def forward(
    policy: NetworkPolicy, host: str, port: int, *, timeout: float = CONNECT_TIMEOUT
) -> Iterator[tuple[str, int]]:
    """A loopback ``(host, port)`` leading to ``host:port`` while the block runs (see :class:`Forward`).

    Raises:
        EgressDenied: The policy refuses the target (raised on entering).
        ConnectionError: It could not be reached.
    """
    with Forward(policy, host, port, timeout=timeout) as address:
        yield address
