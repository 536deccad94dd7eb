from __future__ import annotations

from collections.abc import Iterator

import pytest
from pages import Pages, serve

from synthral_sdk.testing import RunnerClient


@pytest.fixture(scope="module")
def pages() -> Iterator[Pages]:
    with serve() as running:
        yield running


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerClient]:
    """One plugin process, so one browser, for the whole module."""
    with RunnerClient("synthral-browser-playwright", blob_root=tmp_path_factory.mktemp("blobs")) as client:
        yield client
