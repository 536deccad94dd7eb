from __future__ import annotations

from collections.abc import Iterator

import pytest
from site_support import Site, serve


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with serve() as running:
        yield running
