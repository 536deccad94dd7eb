"""Driving the engine in tests: workflows, a harness, a remote API that records effects."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from synthral.engine.model import Workflow
from synthral.engine.runtime import Engine
from synthral.engine.worker import Worker
from synthral.services.workflows import ExecutionView, WorkflowService
from synthral.store.db import Database
from synthral.store.tables import ExecutionStatus

__all__ = ["Harness", "Sink", "chain", "serve_sink", "wait_for_status"]


def chain(name: str, *nodes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A workflow whose nodes run one after the other."""
    edges = [{"source": a["id"], "target": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"name": name, "nodes": list(nodes), "edges": edges, **extra}


async def wait_for_status(
    service: WorkflowService, execution_id: str, *statuses: str, timeout: float = 60.0
) -> ExecutionView:
    """Wait until the execution reaches one of ``statuses`` (default: any terminal one)."""
    wanted = set(statuses) or set(ExecutionStatus.TERMINAL)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        view = await service.execution(execution_id)
        if view.status in wanted:
            return view
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"execution {execution_id} is {view.status}, wanted {wanted}: {view.execution}")
        await asyncio.sleep(0.05)


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
        return await wait_for_status(self.service, execution_id, *statuses, timeout=timeout)


@dataclass
class Sink:
    """A remote API that records effects and dedupes them by idempotency key."""

    url: str
    effects: dict[str, int] = field(default_factory=dict)
    attempts: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextlib.contextmanager
def serve_sink() -> Iterator[Sink]:
    """A local HTTP server standing in for a remote API that dedupes effects by key."""
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
