"""Rows that may be written a moment late, inserted in batches by a background task.

For records where a lost fraction of a second after a crash is acceptable and a commit (an
fsync on SQLite) per row is not: LLM call usage, an agent's thoughts and LLM answers. What
must survive a crash at once (a tool call's result) is written by its owner directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from sqlalchemy import Table, insert

from synthral.store.db import Database

__all__ = ["BatchInsert"]

log = logging.getLogger("synthral.batch")


class BatchInsert:
    """Queues rows of one table and inserts them every ``interval`` seconds (and on :meth:`flush`)."""

    def __init__(self, database: Database, table: Table, interval: float = 0.1) -> None:
        self.database = database
        self.table = table
        self.interval = interval
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()

    def add(self, row: dict[str, Any]) -> None:
        """Queue a row (on the event loop's thread)."""
        with self._lock:
            self._rows.append(row)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not await self.flush():
                return

    async def flush(self) -> bool:
        """Insert what is queued now; return whether there was anything."""
        async with self._writing:  # a flush waits for a write in progress: then all queued before it is stored
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return False
            try:
                async with self.database.transaction() as connection:
                    await connection.execute(insert(self.table), rows)
            except Exception:  # a lost record must not fail the work it describes
                log.warning("could not write %d rows to %s", len(rows), self.table.name, exc_info=True)
            return True

    async def close(self) -> None:
        """Write what is left and stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        await self.flush()
