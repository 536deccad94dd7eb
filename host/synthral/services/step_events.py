"""Live events of running steps (streamed tokens, agent steps), written in small batches.

A step's capability emits events (``context.emit``); they are buffered here and written to
``step_event`` every ``interval`` seconds, consecutive tokens of one step joined into one
row. The event watcher behind the WebSocket reads that table like the step history, so a
token streamed by a worker on another machine reaches the execution view all the same.
Events are for watching, not for the record: a crash may lose the last fraction of a
second of them, never a step's result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from synthral.engine import state
from synthral.observability import hooks as observe
from synthral.security.redact import Redactor
from synthral.store.db import Database
from synthral.store.tables import utcnow
from synthral_sdk._ai import TOKEN_EVENT
from synthral_sdk.context import EventSink
from synthral_sdk.types import JSONObject

__all__ = ["StepEvents"]

log = logging.getLogger("synthral.events")
MAX_PENDING = 10_000


class StepEvents:
    """Buffers step events and writes them in batches.

    Args:
        database: Where ``step_event`` lives.
        interval: Seconds between writes while events arrive.
    """

    def __init__(self, database: Database, interval: float = 0.1) -> None:
        self.database = database
        self.interval = interval
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writing = asyncio.Lock()
        self.dropped = 0

    def sink(self, execution_id: str, node_id: str, redactor: Redactor | None = None) -> EventSink:
        """The sink of one step's events; secrets the step was granted are masked in them."""
        self._loop = asyncio.get_running_loop()

        def emit(kind: str, data: JSONObject) -> None:
            value = redactor.value(data) if redactor is not None else data
            self.add(execution_id, node_id, kind, value)

        return emit

    def add(self, execution_id: str, node_id: str, kind: str, data: JSONObject) -> None:
        """Queue one event (from any thread)."""
        observe.step_event(execution_id, node_id, kind, data)
        with self._lock:
            last = self._pending[-1] if self._pending else None
            if (
                kind == TOKEN_EVENT
                and last is not None
                and last["kind"] == TOKEN_EVENT
                and (last["execution_id"], last["node_id"]) == (execution_id, node_id)
            ):
                last["data"] = {"text": str(last["data"].get("text", "")) + str(data.get("text", ""))}
                return
            if len(self._pending) >= MAX_PENDING:
                self.dropped += 1
                return
            self._pending.append(
                {"execution_id": execution_id, "node_id": node_id, "kind": kind, "data": data, "created_at": utcnow()}
            )
        loop = self._loop
        if loop is not None and (self._task is None or self._task.done()):
            loop.call_soon_threadsafe(self._start)

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not await self.flush():
                return

    async def flush(self) -> bool:
        """Write what is queued; return whether there was anything."""
        async with self._writing:  # a flush waits for a write in progress: then all queued before it is stored
            with self._lock:
                rows, self._pending = self._pending, []
            if not rows:
                return False
            try:
                async with self.database.transaction() as connection:
                    await connection.run_sync(state.add_step_events, rows)
            except Exception:  # events are best-effort: a run must not fail because one was not written
                log.warning("could not write %d step events", len(rows), exc_info=True)
            return True

    async def close(self) -> None:
        """Write what is left and stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        await self.flush()
