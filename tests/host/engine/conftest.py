"""An engine over a real database and a real plugin host, with a worker running."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from synthral.engine.model import Workflow
from synthral.engine.runtime import Engine
from synthral.engine.worker import Worker
from synthral.plugins.host import PluginHost
from synthral.services.workflows import ExecutionView, WorkflowService
from synthral.store.db import Database
from synthral.store.tables import ExecutionStatus
from tests.conftest import make_settings


@dataclass
class Harness:
    """What engine tests drive: the service, the engine and a worker."""

    service: WorkflowService
    engine: Engine
    worker: Worker
    database: Database

    async def save(self, data: dict[str, Any]) -> Any:
        return await self.service.save(Workflow.model_validate(data))

    async def run(self, data: dict[str, Any], payload: dict[str, Any] | None = None) -> str:
        saved = await self.save(data)
        return await self.service.start(saved.workflow_id, payload or {})

    async def wait(self, execution_id: str, *statuses: str, timeout: float = 60.0) -> ExecutionView:
        """Wait until the execution reaches one of ``statuses`` (default: any terminal one)."""
        wanted = set(statuses) or set(ExecutionStatus.TERMINAL)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            view = await self.service.execution(execution_id)
            if view.status in wanted:
                return view
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"execution {execution_id} is {view.status}, wanted {wanted}: {view.execution}")
            await asyncio.sleep(0.05)


@pytest.fixture
async def harness(database: Database, noop_home: Path, wheelhouse: Path) -> AsyncIterator[Harness]:
    plugins = PluginHost(make_settings(noop_home, wheelhouse))
    engine = Engine(database, plugins, lease_seconds=5.0)
    worker = Worker(engine, concurrency=8, poll_interval=0.1)
    task = asyncio.create_task(worker.run())
    yield Harness(WorkflowService(database, plugins, engine), engine, worker, database)
    worker.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await plugins.close()


@dataclass
class Sink:
    """A remote API that records effects and dedupes them by idempotency key."""

    url: str
    effects: dict[str, int] = field(default_factory=dict)
    attempts: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def sink() -> Iterator[Sink]:
    state = Sink(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.attempts.append((body["key"], body["attempt"]))
                state.effects[body["key"]] = state.effects.get(body["key"], 0) + 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/effects"
    yield state
    server.shutdown()
    server.server_close()
