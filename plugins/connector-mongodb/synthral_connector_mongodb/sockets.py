"""PyMongo's connections, made by the SDK within each call's network policy.

PyMongo opens its sockets itself, in its own monitor threads as well as the caller's, to
the seed hosts and to every replica-set member the servers report. A loopback forward
(``context.tcp_forward``) would not do: PyMongo checks a TLS certificate against the address
it connects to, and would go on to the members by their own names. So the plugin gives
PyMongo its connections instead: PyMongo's one function that makes a TCP connection
(``pymongo.pool_shared._create_connection``) is replaced by one that asks
:func:`synthral_sdk.tcp.connect` with the policy of the call the client belongs to. TLS,
the handshake and everything after stay PyMongo's, against the real host name.

Each client gets an application name of its own (``synthral-<id>``, which PyMongo also
hands its monitors), and the policy is found by it; a client of no known call gets no
connection at all. ``mongodb+srv://`` needs DNS SRV and TXT records, which the OS sandbox
cannot look up: outside the sandbox it works as before; inside, the call is refused with
the standard connection string as the fix.

PyMongo's internals may move: the replacement is checked when the module loads, and the
plugin's lock pins the PyMongo it was tested with.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
from collections.abc import Iterator
from typing import Any, Final

import pymongo.pool_shared

from synthral_sdk.errors import ConfigurationError, EgressDenied
from synthral_sdk.network import NetworkPolicy
from synthral_sdk.tcp import connect

__all__ = ["Binding", "EgressRefused", "bound", "install"]

PREFIX: Final = "synthral-"
_lock = threading.Lock()
_original: Any = None


class Binding:
    """One client's application name, the policy its connections obey, and the last refusal."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self.name = PREFIX + secrets.token_hex(6)
        self.policy = policy
        self.refusal: EgressDenied | None = None


_bindings: dict[str, Binding] = {}


class EgressRefused(OSError):
    """The policy refused a connection PyMongo asked for (an ``OSError`` so PyMongo records it for the server).

    Attributes:
        refusal: The SDK's refusal, raised to the plugin's caller as it is.
    """

    def __init__(self, refusal: EgressDenied) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def install() -> None:
    """Replace PyMongo's connection function (once per process).

    Raises:
        ConfigurationError: This PyMongo has no such function (its internals moved).
    """
    global _original  # noqa: PLW0603 -- one replacement per process, as PyMongo's own module global
    with _lock:
        if _original is not None:
            return
        original = getattr(pymongo.pool_shared, "_create_connection", None)
        if original is None or not callable(original):
            raise ConfigurationError(
                f"PyMongo {pymongo.version} no longer makes connections where this plugin expects; install the "
                "plugin with the PyMongo its lock pins"
            )
        _original = original
        setattr(pymongo.pool_shared, "_create_connection", _create_connection)  # noqa: B010 -- see the module docstring


@contextlib.contextmanager
def bound(policy: NetworkPolicy) -> Iterator[Binding]:
    """A binding for one client (its ``appname``): every connection it makes obeys ``policy`` while the block runs."""
    install()
    binding = Binding(policy)
    with _lock:
        _bindings[binding.name] = binding
    try:
        yield binding
    finally:
        with _lock:
            _bindings.pop(binding.name, None)


def _create_connection(address: tuple[str, int | None], options: Any) -> socket.socket:
    """PyMongo's connection, made by the SDK within the policy of the client's call."""
    host, port = address
    with _lock:
        binding = _bindings.get(str(getattr(options, "appname", None) or ""))
    if binding is None:
        raise ConnectionError(f"no call's network policy covers this connection to {host}; it is not made")
    timeout = float(getattr(options, "connect_timeout", None) or 20.0)
    try:
        if host.endswith(".sock"):
            raise EgressDenied(f"{host} is a Unix socket of this machine, which plugins may not reach; use host:port")
        sock = connect(binding.policy, host, int(port or 27017), timeout=timeout)
    except EgressDenied as refusal:
        binding.refusal = refusal
        raise EgressRefused(refusal) from None
    if sock.family in (socket.AF_INET, socket.AF_INET6):  # in the sandbox it is the tunnel's Unix socket
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)
    sock.settimeout(timeout)
    return sock
