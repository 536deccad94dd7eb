"""Checks on the addresses the server is given: loopback hosts and its own public URL."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from synthral.errors import ConfigurationError

__all__ = ["checked_public_url", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: ``localhost`` or a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_public_url(url: str) -> str:
    """The server's base URL as browsers reach it, without a trailing slash.

    Raises:
        ConfigurationError: It is not an http(s) URL of a host, or carries a query or fragment.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        raise ConfigurationError(
            f"public_url {url[:200]!r} is not the server's base URL; give it as browsers reach the server, "
            "e.g. https://synthral.example.com (SYNTHRAL_PUBLIC_URL)",
            details={"field": "public_url"},
        )
    return url.rstrip("/")
