"""SMTP and IMAP connections made through the call's network policy (``context.tcp_connect``, SDK 1.11).

smtplib and imaplib open their sockets themselves; these subclasses take over only that step:
the TCP connection is ``context.tcp_connect(host, port)``, which judges the address by the
workspace's network policy (outside the OS sandbox) or tunnels through the host's egress
proxy, which judges it (inside). Everything else is the standard library's own: the SMTP and
IMAP dialogue, and TLS, which is done on that socket with ``server_hostname`` the real host
name, so the certificate is checked against the name as before (implicit TLS here, STARTTLS
by ``starttls()``, which uses the name the client was opened with).

The hooks overridden (``SMTP._get_socket``, ``IMAP4._create_socket``) are the ones the
standard library's own TLS subclasses override; the suite exercises each one.

A refusal by the policy raises :class:`~synthral_sdk.errors.EgressDenied` (a configuration
error, not retried); a host that cannot be resolved or reached raises ``ConnectionError``,
an ``OSError`` as before, which the callers report as a retryable "could not reach".
"""

from __future__ import annotations

import imaplib
import smtplib
import socket
import ssl

from synthral_sdk import Context

__all__ = ["PolicyIMAP4", "PolicyIMAP4SSL", "PolicySMTP", "PolicySMTPSSL", "connect"]


def connect(context: Context, host: str, port: int, timeout: float | None) -> socket.socket:
    """A connected socket to ``host:port`` within the call's policy, with ``timeout`` for its reads."""
    sock = context.tcp_connect(host, port, timeout=timeout or 10.0)
    sock.settimeout(timeout)
    return sock


class PolicySMTP(smtplib.SMTP):
    """SMTP (plain, or STARTTLS by ``starttls()``) whose connection obeys the call's policy."""

    def __init__(self, context: Context, host: str, port: int, *, timeout: float) -> None:
        self.call_context = context
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return connect(self.call_context, host, port, timeout)


class PolicySMTPSSL(smtplib.SMTP_SSL):
    """SMTP over implicit TLS (SMTPS), the certificate checked against ``host``."""

    def __init__(self, context: Context, host: str, port: int, *, timeout: float, tls: ssl.SSLContext) -> None:
        self.call_context, self.tls = context, tls
        super().__init__(host, port, timeout=timeout, context=tls)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = connect(self.call_context, host, port, timeout)
        return self.tls.wrap_socket(sock, server_hostname=host)


class PolicyIMAP4(imaplib.IMAP4):
    """IMAP (plain, or STARTTLS by ``starttls()``) whose connection obeys the call's policy."""

    def __init__(self, context: Context, host: str, port: int, *, timeout: float) -> None:
        self.call_context = context
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return connect(self.call_context, self.host, self.port, timeout)


class PolicyIMAP4SSL(imaplib.IMAP4_SSL):
    """IMAP over implicit TLS (IMAPS), the certificate checked against ``host``."""

    def __init__(self, context: Context, host: str, port: int, *, timeout: float, tls: ssl.SSLContext) -> None:
        self.call_context, self.tls = context, tls
        super().__init__(host, port, ssl_context=tls, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = connect(self.call_context, self.host, self.port, timeout)
        return self.tls.wrap_socket(sock, server_hostname=self.host)
