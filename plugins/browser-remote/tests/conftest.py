from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from pages import Pages, serve

from synthral_sdk.testing import RunnerClient
from synthral_sdk.web import ChromiumProcess


@pytest.fixture(scope="module")
def pages() -> Iterator[Pages]:
    with serve() as running:
        yield running


@pytest.fixture(scope="module")
def remote() -> Iterator[str]:
    """A local Chromium with a DevTools port: the stand-in for a remote browser fleet."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    chromium = asyncio.run_coroutine_threadsafe(ChromiumProcess().start(), loop).result(60)
    yield chromium.cdp_url
    asyncio.run_coroutine_threadsafe(chromium.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunnerClient]:
    with RunnerClient("synthral-browser-remote", blob_root=tmp_path_factory.mktemp("blobs")) as client:
        yield client
