"""An engine over a real database and a real plugin host, with a worker running."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from synthral.config import EngineSettings
from synthral.engine.runtime import Engine
from synthral.engine.worker import Worker
from synthral.plugins.host import PluginHost
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from tests.support.engine import Harness, Sink, serve_sink
from tests.support.settings import make_settings


@pytest.fixture
async def harness(database: Database, noop_home: Path, wheelhouse: Path) -> AsyncIterator[Harness]:
    plugins = PluginHost(make_settings(noop_home, wheelhouse))
    engine = Engine(database, plugins, settings=EngineSettings(lease_seconds=5.0))
    worker = Worker(engine, concurrency=8, poll_interval=0.1)
    task = asyncio.create_task(worker.run())
    yield Harness(WorkflowService(database, plugins, engine), engine, worker, database)
    worker.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await plugins.close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    with serve_sink() as state:
        yield state
