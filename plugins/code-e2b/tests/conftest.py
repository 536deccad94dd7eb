"""One stand-in E2B for the session; the conformance suite is pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import StandIn, serve


@pytest.fixture(scope="session")
def e2b() -> Iterator[StandIn]:
    """A stand-in E2B (control plane and envd) on loopback ports."""
    with serve() as stand_in:
        yield stand_in
