"""A run's write guard: every write of a worker's run proves its lease, and carries the run's bookkeeping.

The :class:`RunGuard` is what the engine holds for one claimed run: the fencing token its
claim got, the bookkeeping queued for the next transaction (step records, consumed signals,
checkpoint writes) and the flags read back at every write. It needs nothing of LangGraph, so
a process imports it (and the engine) without LangGraph's runtime; the checkpointer
(:mod:`synthral.engine.checkpoint`) writes through it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar, cast

from sqlalchemy.engine import Connection

from synthral.engine import state
from synthral.errors import RetryableError
from synthral.store.db import Database
from synthral.store.tables import utcnow

__all__ = ["BEHIND_OPS", "LeaseLost", "PendingOp", "RunGuard"]


PendingOp = Callable[[Connection], object]
"""Bookkeeping to run inside the run's next write transaction (synchronous: see Database.write)."""

T = TypeVar("T")

BEHIND_OPS = 16
"""Queued writes (a step queues two or three) past which a run commits before its next step."""


class _Queued:
    """A write queued with the run's bookkeeping: its result, and whether a transaction committed it."""

    __slots__ = ("committed", "fn", "result")

    def __init__(self, fn: Callable[[Connection], object]) -> None:
        self.fn = fn
        self.result: object = None
        self.committed = False

    def __call__(self, connection: Connection) -> object:
        self.result = self.fn(connection)
        return self.result


class LeaseLost(RetryableError):
    """This worker no longer holds the run's lease; another worker has taken it over."""

    code = "lease_lost"


@dataclass
class RunGuard:
    """What one worker's run of one execution must prove before it writes.

    Attributes:
        execution_id: The run (LangGraph's thread id).
        fencing_token: The token this worker's claim got; any other means the lease is lost.
        worker: This worker's id.
        lease_seconds: How far each write extends the lease.
        steps_taken: Steps the run has begun, over all its claims (for ``max_steps``); written
            with every fenced write.
        retry_count: Retries its steps have taken, over all its claims; written likewise.
        pending: Bookkeeping to commit with the next write (step records, consumed signals,
            checkpoint writes).
        pause_requested, cancel_requested: Flags read back at every write.
    """

    execution_id: str
    fencing_token: int
    worker: str
    lease_seconds: float
    steps_taken: int = 0
    retry_count: int = 0
    pending: list[PendingOp] = field(default_factory=list)
    pause_requested: bool = False
    cancel_requested: bool = False
    on_commit: Callable[[], None] | None = None
    """Called in the event loop after each of the run's transactions commits (the live-event hub)."""
    known_empty: bool = False
    """True while the run is on its first claim and has saved no checkpoint: reads can be skipped."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending_lock: threading.Lock = field(default_factory=threading.Lock)

    def behind(self) -> bool:
        """Whether so much is queued that the run should commit before its next step."""
        return len(self.pending) >= BEHIND_OPS

    def defer(self, op: PendingOp) -> None:
        """Queue ``op`` for the next write transaction."""
        with self.pending_lock:
            self.pending.append(op)

    async def run(self, database: Database, fn: Callable[[Connection], T] | None = None) -> T | None:
        """One write transaction: prove the lease, carry the queued bookkeeping and ``fn``.

        ``fn`` joins the queue, and whichever call holds the run's write turn commits
        everything queued in one transaction (a group commit): while one transaction
        commits, the checkpoints of the steps that finished meanwhile wait, and the next
        transaction carries them all, so records never trail a fast run by more than about
        one commit. A call whose ``fn`` another call's transaction committed returns its
        result without writing. Queued work leaves the queue only once its transaction has
        committed, so a transaction that fails loses nothing; the next one carries it.

        Raises:
            LeaseLost: The fencing token moved on; nothing is written.
        """
        queued = _Queued(fn) if fn is not None else None
        if queued is not None:
            self.defer(queued)
        async with self.lock:
            if queued is not None and queued.committed:
                return cast("T", queued.result)
            with self.pending_lock:
                carried = list(self.pending)

            def work(connection: Connection) -> None:
                self._check(connection)
                for op in carried:
                    op(connection)

            def committed() -> None:
                with self.pending_lock:
                    del self.pending[: len(carried)]
                for op in carried:
                    if isinstance(op, _Queued):
                        op.committed = True

            await database.write(work, after_commit=committed)
            if self.on_commit is not None:
                self.on_commit()
            return cast("T", queued.result) if queued is not None else None

    def _check(self, connection: Connection) -> None:
        """Extend the lease if it is still ours, recording the run's counts.

        Raises:
            LeaseLost: The fencing token moved on.
        """
        flags = state.hold_lease(
            connection,
            execution_id=self.execution_id,
            fencing_token=self.fencing_token,
            worker=self.worker,
            expires=utcnow() + timedelta(seconds=self.lease_seconds),
            steps_taken=self.steps_taken,
            retry_count=self.retry_count,
        )
        if flags is None:
            raise LeaseLost(
                f"execution {self.execution_id}: this worker's lease (token {self.fencing_token}) was taken over; "
                "its result is discarded and the new lease holder continues"
            )
        self.pause_requested, self.cancel_requested = flags.pause_requested, flags.cancel_requested
