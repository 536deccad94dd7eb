"""Connections out of a plugin's OS sandbox: tunnels through the host's egress proxy.

In the sandbox a plugin process has a network namespace of its own, with nothing in it but
loopback: no route out and no DNS. With network granted, ``$SYNTHRAL_EGRESS_PROXY`` names
the Unix socket of the egress proxy the host runs for the process. The SDK's clients
(:mod:`synthral_sdk.http`, the web fetcher and the browser's proxy) then connect through
it with ``CONNECT host:port``, naming the call's network policy in the
``Synthral-Network-Policy`` header. The proxy resolves the name, judges every address by
the plugin's policy and by the call's (a call can only narrow what the plugin may reach),
connects to an address it checked, and answers 403 naming the refusal otherwise.

Outside a sandbox the variable is unset and the clients resolve and connect themselves.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
from collections.abc import Sequence
from typing import Final

from synthral_sdk.errors import EgressDenied
from synthral_sdk.network import NetworkPolicy

__all__ = [
    "EGRESS_PROXY_VARIABLE",
    "POLICY_HEADER",
    "connect_request",
    "egress_proxy",
    "open_tunnel",
    "policy_of",
    "precheck",
    "read_answer",
    "tunnel_failure",
]

EGRESS_PROXY_VARIABLE: Final = "SYNTHRAL_EGRESS_PROXY"
POLICY_HEADER: Final = "Synthral-Network-Policy"
ANSWER_LIMIT: Final = 64 * 1024


def egress_proxy() -> str | None:
    """The socket of the sandbox's egress proxy, or None outside a sandbox (connect directly)."""
    return os.environ.get(EGRESS_PROXY_VARIABLE) or None


def connect_request(host: str, port: int, policy: NetworkPolicy | None) -> bytes:
    """``CONNECT host:port``, with the call's policy in :data:`POLICY_HEADER` when there is one."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if policy is not None:
        lines.append(f"{POLICY_HEADER}: {json.dumps(policy.to_wire(), separators=(',', ':'))}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def frame(datagrams: Sequence[bytes]) -> bytes:
    """Datagrams as one body: each a 4-byte big-endian length, then its bytes."""
    return b"".join(len(d).to_bytes(4, "big") + d for d in datagrams)


def unframe(body: bytes) -> list[bytes] | None:
    """The datagrams :func:`frame` made, or None when ``body`` is not such a body."""
    datagrams: list[bytes] = []
    at = 0
    while at < len(body):
        if at + 4 > len(body):
            return None
        size = int.from_bytes(body[at : at + 4], "big")
        at += 4
        if at + size > len(body):
            return None
        datagrams.append(body[at : at + size])
        at += size
    return datagrams


def udp_request(host: str, port: int, policy: NetworkPolicy | None, datagrams: Sequence[bytes]) -> bytes:
    """``POST udp://host:port`` carrying ``datagrams``, with the call's policy when there is one."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    body = frame(datagrams)
    lines = [f"POST udp://{target} HTTP/1.1", f"Host: {target}", f"Content-Length: {len(body)}"]
    if policy is not None:
        lines.append(f"{POLICY_HEADER}: {json.dumps(policy.to_wire(), separators=(',', ':'))}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def policy_of(headers: list[str]) -> NetworkPolicy | None:
    """The call's policy a request's header lines name, or None when they name none.

    A header that does not parse is the strictest policy (public addresses only, no host):
    whoever sent it gets less, never more.
    """
    prefix = POLICY_HEADER.lower() + ":"
    for line in headers:
        if line.lower().startswith(prefix):
            try:
                return NetworkPolicy.from_wire(json.loads(line[len(prefix) :]))
            except ValueError:
                return NetworkPolicy(hosts=())
    return None


def precheck(policy: NetworkPolicy | None, host: str, port: int) -> None:
    """What can be judged before the proxy resolves anything: the host's grant, and an address given as such.

    Raises:
        EgressDenied: The policy refuses it.
    """
    if policy is None:
        return
    policy.check_host(host, port)
    try:
        literal = str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return
    policy.permitted(host, [literal], port=port)


def read_answer(sock: socket.socket) -> bytes:
    """A proxy's answer to ``CONNECT``, read off a blocking socket up to the end of its head only.

    What follows the head is the target's: a server that speaks first (MySQL, SMTP, IMAP)
    may have its greeting in the same segment, so the head is found by peeking and exactly
    that much consumed. After a refusal (not 200) the body, its reason, is read too.
    """
    answer = b""
    while len(answer) < ANSWER_LIMIT:
        peek = sock.recv(4096, socket.MSG_PEEK)
        if not peek:
            return answer
        end = (answer + peek).find(b"\r\n\r\n")
        if end < 0:
            answer += sock.recv(len(peek))
            continue
        answer += sock.recv(end + 4 - len(answer))
        break
    if not answer.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
        while len(answer) < 2 * ANSWER_LIMIT and (chunk := sock.recv(4096)):
            answer += chunk
    return answer


def tunnel_failure(answer: bytes, host: str, port: int) -> Exception | None:
    """None when the proxy's answer opened the tunnel; else the error it amounts to.

    A 403 is the policy's refusal (:class:`EgressDenied`, its reason as the proxy said it);
    anything else is a connection failure (:class:`ConnectionError`).
    """
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    parts = status_line.split(" ", 2)
    status = parts[1] if len(parts) > 1 else ""
    if status == "200":
        return None
    reason = body.decode("utf-8", "replace").strip() or status_line
    if status == "403":
        return EgressDenied(
            f"refused to connect to {host}:{port}: {reason}",
            details={"host": host, "port": port, "reason": reason},
        )
    return ConnectionError(f"could not connect to {host}:{port} through the sandbox's egress proxy: {reason}")


async def open_tunnel(
    host: str, port: int, policy: NetworkPolicy | None, *, path: str | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream to ``host:port`` through the sandbox's egress proxy.

    Raises:
        EgressDenied: The proxy refused it by the policy.
        ConnectionError: The proxy could not be reached, or could not connect.
    """
    precheck(policy, host, port)
    socket_path = path or egress_proxy()
    if socket_path is None:
        raise ConnectionError(
            f"could not connect to {host}:{port}: this plugin process has no network (its grant has none)"
        )
    try:
        reader, writer = await asyncio.open_unix_connection(socket_path)
    except OSError as exc:
        raise ConnectionError(f"the sandbox's egress proxy could not be reached for {host}:{port}: {exc}") from None
    try:
        writer.write(connect_request(host, port, policy))
        await writer.drain()
        answer = await reader.readuntil(b"\r\n\r\n")
        if not answer.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
            answer += await reader.read(ANSWER_LIMIT)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        writer.close()
        raise ConnectionError(f"the sandbox's egress proxy dropped the connection to {host}:{port}: {exc}") from None
    failure = tunnel_failure(answer, host, port)
    if failure is not None:
        writer.close()
        raise failure
    return reader, writer
