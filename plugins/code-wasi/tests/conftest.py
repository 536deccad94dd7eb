"""Stop the runtime's warm instances when the session ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from synthral_code_wasi.plugin import RUNTIME


@pytest.fixture(autouse=True, scope="session")
def _stop_instances() -> Iterator[None]:
    yield
    RUNTIME.stop()
