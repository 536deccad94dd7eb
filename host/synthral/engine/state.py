"""The one owner of execution state: every write to runs, steps, signals, logs and checkpoints.

Rows of ``workflow_execution``, ``step``, ``workflow_signal``, ``execution_log`` and the
checkpoint tables change only through the functions below, each one named transition. They
take a synchronous connection inside a write transaction (they run within
:meth:`Database.write <synthral.store.db.Database.write>`, whole, on the writer thread on
SQLite; code holding an async connection runs them with ``connection.run_sync``). A
worker's writes are fenced: :func:`hold_lease` opens each of its transactions, proving the
claim still holds and recording the run's step counts, so nothing a worker that lost its
lease does can land.

The life of a run::

    enqueue ─▶ queued ──claim──▶ running ──finish──▶ completed | failed | cancelled
                  ▲                │  ▲
           resume │       suspend  │  │ (timer due, signal, child ended: claimable again)
                  │                ▼  │
               paused ◀──────── waiting

Reads are free to happen anywhere; writes happen here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from synthral.errors import NonRetryableError
from synthral.store.ai_tables import STEP_EVENT
from synthral.store.db import Database
from synthral.store.tables import (
    CHECKPOINT,
    CHECKPOINT_BLOB,
    CHECKPOINT_TABLES,
    CHECKPOINT_WRITE,
    EXECUTION,
    EXECUTION_LOG,
    SIGNAL,
    STEP,
    ExecutionStatus,
    StepStatus,
    new_id,
    utcnow,
)

__all__ = [
    "CLAIMABLE",
    "Claim",
    "LeaseFlags",
    "NewRun",
    "SignalConsumedTwice",
    "abandon_orphans",
    "add_log",
    "begin_attempt",
    "claim",
    "complete_wait",
    "consume_signal",
    "copy_for_replay",
    "delete_checkpoints",
    "delete_finished",
    "delete_runs_of_workflow",
    "deliver_signal",
    "end_attempt",
    "enqueue",
    "enqueue_new",
    "finish",
    "hold_lease",
    "record_attempt",
    "record_wait",
    "release",
    "request_cancel",
    "request_pause",
    "resume",
    "save_checkpoint",
    "save_checkpoint_writes",
    "suspend",
]

CLAIMABLE: Final = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING, ExecutionStatus.WAITING)
"""States a worker may claim a run in (running: its lease expired)."""


# -- the queue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewRun:
    """A run to queue.

    Attributes:
        workflow_id: The workflow.
        workflow_version: The version it runs.
        input: Its input (templates see it as ``trigger``).
        trigger: What started it: manual, cron, poll, signal, webhook, subworkflow, error, replay.
        execution_id: Its id; a fresh one when None. A given id makes starting idempotent.
        parent_execution_id: The run that started it as a sub-workflow.
        parent_node_id: The node of that run.
        replay_of: The run it replays.
        state: Engine bookkeeping (what a replay reuses).
        run_at: When it may be claimed (now when None).
    """

    workflow_id: str
    workflow_version: int
    input: Mapping[str, Any] | None = None
    trigger: str = "manual"
    execution_id: str | None = None
    parent_execution_id: str | None = None
    parent_node_id: str | None = None
    replay_of: str | None = None
    state: Mapping[str, Any] | None = None
    run_at: datetime | None = None

    def row(self, now: datetime) -> dict[str, Any]:
        """The queued row."""
        return {
            "id": self.execution_id or new_id(),
            "workflow_id": self.workflow_id,
            "workflow_version": self.workflow_version,
            "status": ExecutionStatus.QUEUED,
            "trigger": self.trigger,
            "input": dict(self.input or {}),
            "started_at": now,
            "next_run_at": self.run_at or now,
            "fencing_token": 0,
            "pause_requested": False,
            "cancel_requested": False,
            "steps_taken": 0,
            "retry_count": 0,
            "parent_execution_id": self.parent_execution_id,
            "parent_node_id": self.parent_node_id,
            "replay_of": self.replay_of,
            "execution_state": dict(self.state) if self.state is not None else None,
        }


def enqueue(connection: Connection, run: NewRun) -> str:
    """Queue a run; returns its id."""
    row = run.row(utcnow())
    connection.execute(insert(EXECUTION), row)
    return str(row["id"])


def enqueue_new(database: Database, connection: Connection, runs: Sequence[NewRun]) -> list[bool]:
    """Queue the runs whose ids are not taken yet (idempotent starts); for each, whether it is new.

    A run repeated in ``runs`` (same id) is new once, at its first place.
    """
    now = utcnow()
    first: dict[str, dict[str, Any]] = {}
    ids = []
    for run in runs:
        row = run.row(now)
        ids.append(str(row["id"]))
        first.setdefault(str(row["id"]), row)
    inserted = database.insert_new(connection, EXECUTION, list(first.values()))
    created = []
    for execution_id in ids:
        created.append(execution_id in inserted)
        inserted.discard(execution_id)
    return created


@dataclass(frozen=True)
class Claim:
    """A worker's claim on a run, with what running it needs from the row."""

    execution_id: str
    fencing_token: int
    workflow_id: str
    workflow_version: int
    input: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    replay_of: str | None = None
    parent_execution_id: str | None = None
    cancel_requested: bool = False
    steps_taken: int = 0
    retry_count: int = 0
    abandoned: int = 0
    """Attempts of earlier claims found running and closed as abandoned by this claim."""

    @property
    def id(self) -> str:
        """The execution id."""
        return self.execution_id

    @property
    def recovered(self) -> bool:
        """Whether an earlier claim ran this run (its history must be read)."""
        return self.fencing_token > 1 or self.replay_of is not None


_CLAIMED: Final = (
    EXECUTION.c.id,
    EXECUTION.c.fencing_token,
    EXECUTION.c.workflow_id,
    EXECUTION.c.workflow_version,
    EXECUTION.c.input,
    EXECUTION.c.started_at,
    EXECUTION.c.replay_of,
    EXECUTION.c.parent_execution_id,
    EXECUTION.c.cancel_requested,
    EXECUTION.c.steps_taken,
    EXECUTION.c.retry_count,
)


async def claim(database: Database, worker: str, lease_seconds: float) -> Claim | None:
    """Claim the runnable run that has waited longest, or return None.

    One ``UPDATE … WHERE id = (SELECT … LIMIT 1)`` sets the owner, the lease and
    ``fencing_token + 1`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's ``BEGIN
    IMMEDIATE`` serialises claimants). Taking over a run whose worker stopped closes that
    worker's unfinished attempts as abandoned, in the same transaction.
    """
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
        .returning(*_CLAIMED)
    )

    def take(connection: Connection) -> Claim | None:
        row = connection.execute(statement).first()
        if row is None:
            return None
        token = int(row[1])
        abandoned = abandon_orphans(connection, row[0], token) if token > 1 else 0
        return Claim(
            execution_id=row[0],
            fencing_token=token,
            workflow_id=row[2],
            workflow_version=row[3],
            input=dict(row[4] or {}),
            started_at=row[5],
            replay_of=row[6],
            parent_execution_id=row[7],
            cancel_requested=bool(row[8]),
            steps_taken=int(row[9] or 0),
            retry_count=int(row[10] or 0),
            abandoned=abandoned,
        )

    return await database.write(take)


async def next_due(database: Database) -> datetime | None:
    """When the earliest run waiting in the queue becomes claimable; None when none waits.

    A run is claimable at its ``next_run_at`` (a retry's or a timer's time), or when the lease
    of a worker that held it runs out, whichever is later.
    """
    lease = EXECUTION.c.lease_expires_at
    at = case((lease > EXECUTION.c.next_run_at, lease), else_=EXECUTION.c.next_run_at)
    async with database.engine.connect() as connection:
        due = (await connection.execute(select(func.min(at)).where(EXECUTION.c.status.in_(CLAIMABLE)))).scalar()
    return due if isinstance(due, datetime) else None


def abandon_orphans(connection: Connection, execution_id: str, fencing_token: int) -> int:
    """Close the attempts earlier claims left running as ``abandoned``; how many there were.

    Their ``worker`` column keeps the worker that held them; the message says it stopped.
    """
    result = connection.execute(
        update(STEP)
        .where(
            STEP.c.execution_id == execution_id,
            STEP.c.status == StepStatus.RUNNING,
            STEP.c.fencing_token < fencing_token,
        )
        .values(
            status=StepStatus.ABANDONED,
            finished_at=utcnow(),
            error_type="WorkerLost",
            error_message="the worker running this attempt stopped before it ended; the run was taken over",
            retryable=True,
        )
    )
    return int(result.rowcount or 0)


@dataclass(frozen=True)
class LeaseFlags:
    """What a run's row says at each fenced write: stop at the next step boundary, or at once."""

    pause_requested: bool
    cancel_requested: bool


_HOLD: Final = (
    update(EXECUTION)
    .where(
        EXECUTION.c.id == bindparam("b_id"),
        EXECUTION.c.fencing_token == bindparam("b_token"),
        EXECUTION.c.lease_owner == bindparam("b_owner"),
    )
    .values(
        lease_expires_at=bindparam("b_expires"),
        steps_taken=bindparam("b_steps"),
        retry_count=bindparam("b_retries"),
    )
    .returning(EXECUTION.c.pause_requested, EXECUTION.c.cancel_requested)
)
"""Built once: this is on every write of every run."""


def hold_lease(
    connection: Connection,
    *,
    execution_id: str,
    fencing_token: int,
    worker: str,
    expires: datetime,
    steps_taken: int,
    retry_count: int,
) -> LeaseFlags | None:
    """Extend the lease if the claim still holds it, recording the run's counts; None if it is lost.

    The counts ride on the write every step already makes, so ``max_steps`` holds across
    claims: a run that waits, or moves to another worker, continues from what it has taken.
    """
    row = connection.execute(
        _HOLD,
        {
            "b_id": execution_id,
            "b_token": fencing_token,
            "b_owner": worker,
            "b_expires": expires,
            "b_steps": steps_taken,
            "b_retries": retry_count,
        },
    ).first()
    if row is None:
        return None
    return LeaseFlags(bool(row[0]), bool(row[1]))


def _fenced(execution_id: str, fencing_token: int) -> ColumnElement[bool]:
    return and_(EXECUTION.c.id == execution_id, EXECUTION.c.fencing_token == fencing_token)


def release(connection: Connection, execution_id: str, fencing_token: int, *, run_at: datetime | None = None) -> bool:
    """Let go of a claim (the run waits, or this worker cannot go on); False if it was lost already.

    With ``run_at`` the run is claimable again from then on (a run a worker had to drop).
    """
    values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
    if run_at is not None:
        values["next_run_at"] = run_at
    result = connection.execute(update(EXECUTION).where(_fenced(execution_id, fencing_token)).values(**values))
    return bool(result.rowcount)


def finish(
    connection: Connection,
    execution_id: str,
    status: str,
    *,
    output: Any = None,
    error_type: str | None = None,
    error_message: str | None = None,
    error_node: str | None = None,
    fencing_token: int | None = None,
) -> bool:
    """Record a status that ends the claim: completed, failed, cancelled or paused.

    Inside a transaction the caller fenced already, or fenced here by ``fencing_token``;
    False when that token was no longer the run's.
    """
    values: dict[str, Any] = {"status": status, "lease_owner": None, "lease_expires_at": None, "next_run_at": None}
    if status in ExecutionStatus.TERMINAL:
        values["completed_at"] = utcnow()
    if output is not None:
        values["output"] = output
    if error_type is not None:
        values.update(error_type=error_type, error_message=error_message, error_node=error_node)
    where = _fenced(execution_id, fencing_token) if fencing_token is not None else EXECUTION.c.id == execution_id
    return bool(connection.execute(update(EXECUTION).where(where).values(**values)).rowcount)


def suspend(
    connection: Connection, execution_id: str, waiting_for: Mapping[str, Any], wake_at: datetime | None
) -> None:
    """Mark a run as waiting: for a timer at ``wake_at``, or for a signal or a child when None.

    A signal that arrived meanwhile keeps the run runnable now, so none is missed between a
    node's check and its suspension (the sender's update sees 'waiting' otherwise).
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
            waiting_for=dict(waiting_for),
            waiting_kind=waiting_for.get("kind"),
            next_run_at=wake_at,
        )
    )


# -- pause, resume, cancel (requested by people; carried out by the worker or at once) -----


def request_pause(connection: Connection, execution_id: str) -> None:
    """Ask a run to pause at its next step boundary; a queued or waiting run nobody holds pauses now."""
    connection.execute(update(EXECUTION).where(EXECUTION.c.id == execution_id).values(pause_requested=True))
    connection.execute(
        update(EXECUTION)
        .where(
            EXECUTION.c.id == execution_id,
            EXECUTION.c.status.in_((ExecutionStatus.QUEUED, ExecutionStatus.WAITING)),
            EXECUTION.c.lease_owner.is_(None),
        )
        .values(status=ExecutionStatus.PAUSED, next_run_at=None)
    )


def resume(connection: Connection, execution_id: str) -> bool:
    """Queue a paused run again; False if it was not paused."""
    result = connection.execute(
        update(EXECUTION)
        .where(EXECUTION.c.id == execution_id, EXECUTION.c.status == ExecutionStatus.PAUSED)
        .values(status=ExecutionStatus.QUEUED, pause_requested=False, next_run_at=utcnow())
    )
    return bool(result.rowcount)


def request_cancel(connection: Connection, execution_id: str) -> None:
    """Ask a run to stop; one nobody holds is cancelled now, a held one by its worker."""
    connection.execute(update(EXECUTION).where(EXECUTION.c.id == execution_id).values(cancel_requested=True))
    connection.execute(
        update(EXECUTION)
        .where(
            EXECUTION.c.id == execution_id,
            EXECUTION.c.lease_owner.is_(None),
            EXECUTION.c.status.notin_(tuple(ExecutionStatus.TERMINAL)),
        )
        .values(status=ExecutionStatus.CANCELLED, next_run_at=None, completed_at=utcnow())
    )


# -- signals --------------------------------------------------------------------------------


def deliver_signal(
    database: Database,
    connection: Connection,
    execution_id: str,
    *,
    signal_type: str,
    name: str,
    data: Mapping[str, Any],
    dedupe_key: str,
) -> bool:
    """Store a signal once per dedupe key and wake the run if it waits for one; False for a duplicate."""
    row = {
        "id": new_id(),
        "execution_id": execution_id,
        "signal_type": signal_type,
        "name": name,
        "signal_data": dict(data),
        "dedupe_key": dedupe_key,
        "received_at": utcnow(),
        "processed": False,
        "processed_at": None,
        "processed_by": None,
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


class SignalConsumedTwice(NonRetryableError):
    """A signal was consumed by two steps; the second one must not go on."""

    code = "signal_consumed_twice"


def consume_signal(connection: Connection, signal_id: str, by: str) -> None:
    """Mark a signal processed by ``by`` (the consuming step's key, or why it was rejected).

    Raises:
        SignalConsumedTwice: It was processed already (``WHERE processed = false`` found nothing).
    """
    result = connection.execute(
        update(SIGNAL)
        .where(SIGNAL.c.id == signal_id, SIGNAL.c.processed.is_(False))
        .values(processed=True, processed_at=utcnow(), processed_by=by)
    )
    if result.rowcount != 1:
        raise SignalConsumedTwice(f"signal {signal_id} was consumed twice; the second consumer is stopped")


# -- steps ----------------------------------------------------------------------------------

_END_COLUMNS: Final = (
    "status", "output", "finished_at", "duration_ms", "error_type", "error_message", "error_details", "retryable"
)  # fmt: skip
_EMPTY_END: Final = dict.fromkeys((*_END_COLUMNS[1:], "replayed_from"))
# Built once: constructing a statement costs several times more than running a cached one.
_INSERT_STEP: Final = insert(STEP)
_INSERT_STEP_RETURNING_ID: Final = insert(STEP).returning(STEP.c.id)
_END_STEP: Final = (
    update(STEP).where(STEP.c.id == bindparam("b_id")).values({c: bindparam(f"b_{c}") for c in _END_COLUMNS})
)


def begin_attempt(connection: Connection, identity: Mapping[str, Any]) -> int:
    """Record an attempt as running before it reaches outside; returns its row id.

    ``identity`` holds the step's columns up to ``fencing_token`` (execution, node, type,
    iteration, attempt, key, input, start, worker, token).
    """
    result = connection.execute(_INSERT_STEP_RETURNING_ID, {**identity, **_EMPTY_END, "status": StepStatus.RUNNING})
    return int(result.scalar_one())


def end_attempt(connection: Connection, row_id: int, ending: Mapping[str, Any]) -> None:
    """Record how a running attempt ended (``ending``: status, output, finished_at, duration, error)."""
    connection.execute(_END_STEP, {"b_id": row_id, **{f"b_{column}": ending.get(column) for column in _END_COLUMNS}})


def record_attempt(connection: Connection, identity: Mapping[str, Any], ending: Mapping[str, Any]) -> None:
    """Record an attempt that was not recorded as running (an in-process step) with how it ended."""
    connection.execute(
        _INSERT_STEP, {**identity, "replayed_from": None, **{column: ending.get(column) for column in _END_COLUMNS}}
    )


def record_wait(database: Database, connection: Connection, row: Mapping[str, Any]) -> None:
    """Record that a step waits, with what it waits for (``row['output']``), once per attempt."""
    connection.execute(database.merge(STEP, ("execution_id", "node_id", "iteration", "attempt")), {**_EMPTY_END, **row})


def complete_wait(connection: Connection, execution_id: str, node_id: str, iteration: str, output: Any) -> None:
    """Record that a waiting step got what it waited for."""
    connection.execute(
        update(STEP)
        .where(
            STEP.c.execution_id == execution_id,
            STEP.c.node_id == node_id,
            STEP.c.iteration == iteration,
            STEP.c.status == StepStatus.WAITING,
        )
        .values(status=StepStatus.COMPLETED, output=output, finished_at=utcnow())
    )


_INSERT_LOG: Final = insert(EXECUTION_LOG)


def add_log(connection: Connection, row: Mapping[str, Any]) -> None:
    """Add a line to a run's log."""
    connection.execute(_INSERT_LOG, dict(row))


def add_step_events(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add the live events steps emitted (LLM tokens, agent steps) to their runs' history."""
    if rows:
        connection.execute(insert(STEP_EVENT), [dict(row) for row in rows])


# -- checkpoints (LangGraph's, in the engine's own transactions) -----------------------------


def save_checkpoint(
    database: Database, connection: Connection, checkpoint: Mapping[str, Any], blobs: Sequence[Mapping[str, Any]]
) -> None:
    """Store a checkpoint and the channel values that changed with it."""
    if blobs:
        connection.execute(
            database.merge(CHECKPOINT_BLOB, ("thread_id", "checkpoint_ns", "channel", "version")),
            [dict(blob) for blob in blobs],
        )
    connection.execute(database.merge(CHECKPOINT, ("thread_id", "checkpoint_ns", "checkpoint_id")), dict(checkpoint))


def save_checkpoint_writes(
    database: Database, connection: Connection, rows: Sequence[Mapping[str, Any]], *, replace: bool
) -> None:
    """Store a task's pending writes (special channels may be rewritten; others are kept once)."""
    statement = database.merge(
        CHECKPOINT_WRITE, ("thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "idx"), replace=replace
    )
    connection.execute(statement, [dict(row) for row in rows])


def delete_checkpoints(connection: Connection, thread_ids: Iterable[str]) -> None:
    """Delete the checkpoints, blobs and writes of runs (one statement per table)."""
    ids = list(thread_ids)
    if ids:
        for table in CHECKPOINT_TABLES:
            connection.execute(delete(table).where(table.c.thread_id.in_(ids)))


# -- copies and deletions --------------------------------------------------------------------


def copy_for_replay(connection: Connection, run: NewRun, steps: Sequence[Mapping[str, Any]], replayed_from: str) -> str:
    """Queue a replay of a finished run with the completed steps it reuses; returns its id."""
    execution_id = enqueue(connection, run)
    if steps:
        now = utcnow()
        connection.execute(
            insert(STEP),
            [
                {
                    "execution_id": execution_id,
                    "node_id": step["node_id"],
                    "node_type": step["node_type"],
                    "iteration": step["iteration"],
                    "attempt": 1,
                    "status": StepStatus.COMPLETED,
                    "idempotency_key": f"{execution_id}/{step['node_id']}/{step['iteration']}",
                    "input": step["input"],
                    "output": step["output"],
                    "error_type": None,
                    "error_message": None,
                    "error_details": None,
                    "retryable": None,
                    "started_at": now,
                    "finished_at": now,
                    "duration_ms": 0.0,
                    "worker": None,
                    "fencing_token": 0,
                    "replayed_from": replayed_from,
                }
                for step in steps
            ],
        )
    return execution_id


def delete_runs_of_workflow(connection: Connection, workflow_id: str) -> int:
    """Delete every run of a workflow with its checkpoints (steps, logs and signals go by cascade)."""
    runs = list(connection.execute(select(EXECUTION.c.id).where(EXECUTION.c.workflow_id == workflow_id)).scalars())
    delete_checkpoints(connection, runs)
    connection.execute(delete(EXECUTION).where(EXECUTION.c.workflow_id == workflow_id))
    return len(runs)


def delete_finished(connection: Connection, cutoff: datetime, limit: int) -> list[str]:
    """Delete up to ``limit`` runs that ended before ``cutoff`` and nothing unfinished needs; their ids.

    A run stays while a run that depends on it is unfinished: a sub-workflow's running
    parent or child, or a replay of it. One statement picks and deletes, so a dependant
    started meanwhile is seen.
    """
    other = EXECUTION.alias("other")
    unfinished = other.c.status.notin_(tuple(ExecutionStatus.TERMINAL))
    # Each list is computed once per statement (uncorrelated), not once per candidate; no
    # NULLs in them, as ``x NOT IN (..., NULL)`` is never true.
    needed_parents = select(other.c.parent_execution_id).where(unfinished, other.c.parent_execution_id.is_not(None))
    replayed = select(other.c.replay_of).where(unfinished, other.c.replay_of.is_not(None))
    unfinished_ids = select(other.c.id).where(unfinished)
    old = (
        select(EXECUTION.c.id)
        .where(
            EXECUTION.c.status.in_(tuple(ExecutionStatus.TERMINAL)),
            func.coalesce(EXECUTION.c.completed_at, EXECUTION.c.started_at) < cutoff,
            EXECUTION.c.id.not_in(needed_parents),
            EXECUTION.c.id.not_in(replayed),
            # A child stays while its parent waits for it (the parent reads its result).
            or_(EXECUTION.c.parent_execution_id.is_(None), EXECUTION.c.parent_execution_id.not_in(unfinished_ids)),
        )
        .limit(limit)
        .correlate(None)  # the subquery reads the table the DELETE targets, on its own
    )
    ids = list(connection.execute(delete(EXECUTION).where(EXECUTION.c.id.in_(old)).returning(EXECUTION.c.id)).scalars())
    delete_checkpoints(connection, ids)
    return ids
