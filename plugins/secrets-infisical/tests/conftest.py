"""Fixtures: a fresh stand-in Infisical per test, and a port nothing listens on."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from support import StandIn, serve


@pytest.fixture
def infisical() -> Iterator[StandIn]:
    """A stand-in Infisical on 127.0.0.1 with an empty project and two machine identities."""
    yield from serve()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
