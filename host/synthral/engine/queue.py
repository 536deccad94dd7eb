"""The execution queue in the database: enqueue, claim with a lease, release, finish.

An execution is claimable when its ``next_run_at`` has come and nobody holds a live lease.
A claim increments the fencing token; every later write of the claimant checks it (see
:mod:`synthral.engine.checkpoint`), so a worker that stalls past its lease cannot write
after another worker took over. On PostgreSQL the claim skips rows other workers are
claiming (``FOR UPDATE SKIP LOCKED``); on SQLite the single-statement UPDATE runs inside
``BEGIN IMMEDIATE``, which serialises claimants.

The functions that write take a synchronous connection (they run inside
:meth:`Database.write`, whole, on the writer thread on SQLite); ``enqueue`` and
``deliver_signal`` have async twins for code holding an async connection.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from synthral.store.db import Database
from synthral.store.tables import EXECUTION, SIGNAL, ExecutionStatus, new_id, utcnow

__all__ = [
    "Claim",
    "claim_next",
    "deliver_signal",
    "deliver_signal_sync",
    "end_values",
    "enqueue",
    "enqueue_sync",
    "finish",
    "finish_sync",
    "release",
    "set_waiting",
]

CLAIMABLE = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING, ExecutionStatus.WAITING)


@dataclass(frozen=True)
class Claim:
    """A worker's claim on an execution, with what running it needs from the row."""

    execution_id: str
    fencing_token: int
    workflow_id: str
    workflow_version: int
    input: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    replay_of: str | None = None
    parent_execution_id: str | None = None
    cancel_requested: bool = False

    @property
    def id(self) -> str:
        """The execution id."""
        return self.execution_id


def enqueue_sync(
    connection: Connection,
    *,
    workflow_id: str,
    workflow_version: int,
    input: dict[str, Any] | None,
    trigger: str = "manual",
    parent_execution_id: str | None = None,
    parent_node_id: str | None = None,
    replay_of: str | None = None,
    state: dict[str, Any] | None = None,
    execution_id: str | None = None,
    run_at: datetime | None = None,
) -> str:
    """Insert a queued execution; returns its id."""
    now = utcnow()
    execution_id = execution_id or new_id()
    connection.execute(
        insert(EXECUTION).values(
            id=execution_id,
            workflow_id=workflow_id,
            workflow_version=workflow_version,
            status=ExecutionStatus.QUEUED,
            trigger=trigger,
            input=input or {},
            started_at=now,
            next_run_at=run_at or now,
            fencing_token=0,
            pause_requested=False,
            cancel_requested=False,
            steps_taken=0,
            retry_count=0,
            parent_execution_id=parent_execution_id,
            parent_node_id=parent_node_id,
            replay_of=replay_of,
            execution_state=state,
        )
    )
    return execution_id


async def enqueue(connection: AsyncConnection, **kwargs: Any) -> str:
    """:func:`enqueue_sync` on an async connection."""
    return await connection.run_sync(functools.partial(enqueue_sync, **kwargs))


async def claim_next(database: Database, worker: str, lease_seconds: float) -> Claim | None:
    """Claim the runnable execution that has waited longest, or return None."""
    now = utcnow()
    runnable = and_(
        EXECUTION.c.status.in_(CLAIMABLE),
        EXECUTION.c.next_run_at <= now,
        or_(EXECUTION.c.lease_expires_at.is_(None), EXECUTION.c.lease_expires_at < now),
    )
    candidate = select(EXECUTION.c.id).where(runnable).order_by(EXECUTION.c.next_run_at).limit(1)
    if database.is_postgres:
        candidate = candidate.with_for_update(skip_locked=True)
    statement = (
        update(EXECUTION)
        .where(EXECUTION.c.id == candidate.scalar_subquery())
        .where(runnable)
        .values(
            status=ExecutionStatus.RUNNING,
            lease_owner=worker,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            fencing_token=EXECUTION.c.fencing_token + 1,
        )
        .returning(
            EXECUTION.c.id,
            EXECUTION.c.fencing_token,
            EXECUTION.c.workflow_id,
            EXECUTION.c.workflow_version,
            EXECUTION.c.input,
            EXECUTION.c.started_at,
            EXECUTION.c.replay_of,
            EXECUTION.c.parent_execution_id,
            EXECUTION.c.cancel_requested,
        )
    )
    row = await database.write(lambda connection: connection.execute(statement).first())
    if row is None:
        return None
    return Claim(
        execution_id=row[0],
        fencing_token=row[1],
        workflow_id=row[2],
        workflow_version=row[3],
        input=dict(row[4] or {}),
        started_at=row[5],
        replay_of=row[6],
        parent_execution_id=row[7],
        cancel_requested=bool(row[8]),
    )


def _fenced(claim: Claim) -> Any:
    return and_(EXECUTION.c.id == claim.execution_id, EXECUTION.c.fencing_token == claim.fencing_token)


async def release(database: Database, claim: Claim) -> bool:
    """Give the lease back (the run is waiting or paused); False if it was already lost."""
    statement = update(EXECUTION).where(_fenced(claim)).values(lease_owner=None, lease_expires_at=None)
    return bool(await database.write(lambda connection: connection.execute(statement).rowcount))


async def finish(database: Database, claim: Claim, status: str) -> bool:
    """Record a status that ends the claim (paused, cancelled...); False if the lease was lost."""
    statement = update(EXECUTION).where(_fenced(claim)).values(**end_values(status, None, None, None, None))
    return bool(await database.write(lambda connection: connection.execute(statement).rowcount))


def finish_sync(
    connection: Connection,
    execution_id: str,
    status: str,
    *,
    output: dict[str, Any] | None = None,
    error_type: str | None = None,
    error_message: str | None = None,
    error_node: str | None = None,
) -> None:
    """Record the end of a run inside a transaction the caller has fenced already."""
    connection.execute(
        update(EXECUTION)
        .where(EXECUTION.c.id == execution_id)
        .values(**end_values(status, output, error_type, error_message, error_node))
    )


def end_values(
    status: str, output: Any, error_type: str | None, error_message: str | None, error_node: str | None
) -> dict[str, Any]:
    """The columns a run's end sets."""
    values: dict[str, Any] = {
        "status": status,
        "lease_owner": None,
        "lease_expires_at": None,
        "next_run_at": None,
    }
    if status in ExecutionStatus.TERMINAL:
        values["completed_at"] = utcnow()
    if output is not None:
        values["output"] = output
    if error_type is not None:
        values.update(error_type=error_type, error_message=error_message, error_node=error_node)
    return values


def set_waiting(
    connection: Connection, execution_id: str, waiting_for: dict[str, Any], wake_at: datetime | None
) -> None:
    """Mark a run as waiting (for a timer at ``wake_at``, or for a signal when None).

    If a signal arrived meanwhile, the run stays runnable now, so no signal is missed between
    a node's check and its suspension (the sender's update sees 'waiting' otherwise).
    """
    pending = connection.execute(
        select(func.count())
        .select_from(SIGNAL)
        .where(SIGNAL.c.execution_id == execution_id, SIGNAL.c.processed.is_(False))
    ).scalar_one()
    if pending and waiting_for.get("kind") != "timer":
        wake_at = utcnow()
    connection.execute(
        update(EXECUTION)
        .where(EXECUTION.c.id == execution_id)
        .values(
            status=ExecutionStatus.WAITING,
            waiting_for=waiting_for,
            waiting_kind=waiting_for.get("kind"),
            next_run_at=wake_at,
        )
    )


def deliver_signal_sync(
    database: Database,
    connection: Connection,
    execution_id: str,
    *,
    signal_type: str,
    name: str,
    data: dict[str, Any],
    dedupe_key: str,
) -> bool:
    """Store a signal once per dedupe key and wake the run if it waits; False for a duplicate."""
    row = {
        "id": new_id(),
        "execution_id": execution_id,
        "signal_type": signal_type,
        "name": name,
        "signal_data": data,
        "dedupe_key": dedupe_key,
        "received_at": utcnow(),
        "processed": False,
    }
    inserted = connection.execute(database.merge(SIGNAL, ("execution_id", "dedupe_key"), replace=False), row)
    if not inserted.rowcount:
        return False
    connection.execute(
        update(EXECUTION)
        .where(
            EXECUTION.c.id == execution_id,
            EXECUTION.c.status == ExecutionStatus.WAITING,
            EXECUTION.c.waiting_kind.in_(("signal", "child")),
        )
        .values(next_run_at=utcnow())
    )
    return True


async def deliver_signal(database: Database, connection: AsyncConnection, execution_id: str, **kwargs: Any) -> bool:
    """:func:`deliver_signal_sync` on an async connection."""
    return await connection.run_sync(lambda sync: deliver_signal_sync(database, sync, execution_id, **kwargs))
