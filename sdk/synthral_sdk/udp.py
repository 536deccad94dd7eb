"""UDP datagrams that obey the call's network policy: syslog to a SIEM, StatsD, and the like.

A plugin that sends datagrams sends them here, so the workspace's SSRF policy and the
plugin's granted hosts hold for them as for its HTTP and TCP connections, and the plugin
runs in the host's OS sandbox instead of asking to run outside it::

    def run(self, inputs, config, context):
        context.udp_send(config.host, 514, [b"<134>1 2026-12-07T10:00:00Z host app - - - hello"])

How it holds: outside the sandbox the name is resolved here and every address is judged by
the policy before anything is sent. In the sandbox, whose network namespace has no route
out, the datagrams go to the host's egress proxy in one ``POST udp://host:port`` request,
and the proxy resolves, judges and sends them the same way. Either way a name that resolves
to several addresses is sent to its IPv4 address when it has one (UDP cannot tell a
listener from none, so there is no trying the next).

Nothing comes back: UDP has no answer, and a datagram lost on the way is not reported.

.. versionadded:: 1.11
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Final

from synthral_sdk._egress import egress_proxy, precheck, read_answer, tunnel_failure, udp_request
from synthral_sdk.network import NetworkPolicy

__all__ = ["MAX_BATCH", "MAX_DATAGRAM", "send"]

MAX_DATAGRAM: Final = 65_507
"""The largest UDP payload over IPv4."""
MAX_BATCH: Final = 1024 * 1024 - 4096
"""Bytes of datagrams (with their 4-byte lengths) one call sends at most."""
SEND_TIMEOUT: Final = 10.0


def send(
    policy: NetworkPolicy, host: str, port: int, datagrams: Sequence[bytes], *, timeout: float = SEND_TIMEOUT
) -> None:
    """Send ``datagrams`` to ``host:port`` over UDP, if ``policy`` lets the plugin reach it.

    Args:
        policy: Where the call may send (a call's is ``context.network``).
        host: A name or an address.
        port: The UDP port.
        datagrams: The payloads, each one datagram.
        timeout: Seconds for resolving (and, in the sandbox, for the proxy's answer).

    Raises:
        ValueError: The port is not one, a datagram is larger than UDP carries, or the batch
            is larger than :data:`MAX_BATCH`.
        EgressDenied: The policy refuses the host or every address it resolves to.
        ConnectionError: It could not be resolved, or the proxy could not be reached.
    """
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is not a UDP port (1-65535)")
    large = next((len(d) for d in datagrams if len(d) > MAX_DATAGRAM), None)
    if large is not None:
        raise ValueError(f"a datagram of {large} bytes is larger than UDP carries ({MAX_DATAGRAM}); split it")
    total = sum(len(d) + 4 for d in datagrams)
    if total > MAX_BATCH:
        raise ValueError(f"{total} bytes of datagrams in one call; send at most {MAX_BATCH} at a time")
    if not datagrams:
        return
    precheck(policy, host, port)
    proxy = egress_proxy()
    if proxy:
        _through_proxy(proxy, policy, (host, port), datagrams, timeout=timeout)
    else:
        _direct(policy, host, port, datagrams)


def _direct(policy: NetworkPolicy, host: str, port: int, datagrams: Sequence[bytes]) -> None:
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise ConnectionError(f"could not resolve {host}: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
    # Only to addresses just judged: resolving again could answer otherwise (DNS rebinding).
    permitted = policy.permitted(host, addresses, port=port)
    address = next((a for a in permitted if ":" not in a), permitted[0])
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        for datagram in datagrams:
            sock.sendto(datagram, (address, port))


def _through_proxy(
    proxy: str, policy: NetworkPolicy, target: tuple[str, int], datagrams: Sequence[bytes], *, timeout: float
) -> None:
    host, port = target
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.settimeout(timeout)
            sock.connect(proxy)
            sock.sendall(udp_request(host, port, policy, datagrams))
            answer = read_answer(sock)
        except OSError as exc:
            raise ConnectionError(f"the sandbox's egress proxy could not be reached for {host}:{port}: {exc}") from None
    failure = tunnel_failure(answer, host, port)
    if failure is not None:
        raise failure
