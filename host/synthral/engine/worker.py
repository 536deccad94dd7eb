"""Workers: claim runnable executions, run them under a heartbeated lease, record the outcome."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any

from langgraph.types import Command
from sqlalchemy.engine import Connection

from synthral.engine import state
from synthral.engine.activity import StepFailed, unpack_output
from synthral.engine.graph import compile_workflow, terminal_nodes
from synthral.engine.guard import LeaseLost, RunGuard
from synthral.engine.idle import Pacing, Waiter
from synthral.engine.nodes import TRIGGER_KEY, state_key
from synthral.engine.repository import SavedVersion, get_version, get_workflow_row
from synthral.engine.runtime import CancelRequested, Engine, PauseRequested, RunContext, error_of
from synthral.errors import ConfigurationError
from synthral.observability import hooks as observe
from synthral.store.tables import ExecutionStatus, utcnow

__all__ = ["INTERRUPTED", "Worker", "run_claim"]

log = logging.getLogger("synthral.engine.worker")


async def _version(engine: Engine, claim: state.Claim) -> SavedVersion:
    """The run's workflow version; versions are immutable, so each is read and checked once."""
    key = (claim.workflow_id, claim.workflow_version)
    version = engine.versions.get(key)
    if version is None:
        async with engine.database.engine.connect() as connection:
            version = engine.versions[key] = await get_version(connection, claim.workflow_id, claim.workflow_version)
    return version


def _compiled(engine: Engine, version: SavedVersion) -> Any:
    key = (version.workflow_id, version.version)
    graph = engine.graphs.get(key)
    if graph is None:
        graph = engine.graphs[key] = compile_workflow(version.workflow, engine.saver)
    return graph


INTERRUPTED = "interrupted"
"""What :func:`run_claim` returns when the database failed under the run: it is not ended, only dropped.

The worker gives the claim back once the database answers again, and the run resumes from its
last checkpoint; the attempt cut short is closed as abandoned and does not count against the
step's retry policy.
"""


async def run_claim(engine: Engine, claim: state.Claim) -> str:
    """Run a claimed execution until it ends, waits or pauses; return the status it reached.

    Returns :data:`INTERRUPTED` when the database (or its disk) failed under the run: an
    outage is never a failure of the run.
    """
    try:
        return await _run_claim(engine, claim)
    except Exception as exc:
        trouble = engine.database.unavailable(exc)
        if trouble is None:
            raise
        engine.outage.failed(trouble)
        log.info("execution %s: interrupted by a database outage; it resumes when the database is back", claim.id)
        return INTERRUPTED


async def _run_claim(engine: Engine, claim: state.Claim) -> str:
    execution = claim
    version = await _version(engine, claim)
    guard = RunGuard(
        claim.execution_id,
        claim.fencing_token,
        engine.worker_id,
        engine.lease_seconds,
        steps_taken=claim.steps_taken,
        retry_count=claim.retry_count,
        on_commit=engine.recorded if engine.record_listeners else None,
    )
    guard.known_empty = not claim.recovered
    if execution.cancel_requested:
        await engine.database.write(
            lambda connection: state.finish(
                connection, claim.execution_id, ExecutionStatus.CANCELLED, fencing_token=claim.fencing_token
            )
        )
        return ExecutionStatus.CANCELLED
    ctx = RunContext(
        engine=engine,
        guard=guard,
        workflow=version.workflow,
        workflow_id=version.workflow_id,
        workflow_version=version.version,
        plugin_pins=version.plugin_versions,
        execution_input=dict(execution.input or {}),
        started_at=execution.started_at.isoformat() if execution.started_at else "",
        workspace_id=version.workspace_id,
    )
    if claim.recovered:
        ctx.history = await engine.load_history(claim.execution_id)
    engine.saver.guards[claim.execution_id] = guard
    run_task = asyncio.current_task()
    assert run_task is not None
    heartbeat = asyncio.create_task(_heartbeat(engine, guard, run_task))
    try:
        with observe.execution(claim.execution_id, version.workflow_id, version.version):
            reached = await _drive(engine, claim, ctx, version, execution)
            observe.execution_ended(reached)
        return reached
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        engine.saver.guards.pop(claim.execution_id, None)


async def _drive(engine: Engine, claim: state.Claim, ctx: RunContext, version: SavedVersion, execution: Any) -> str:
    config: dict[str, Any] = {
        "configurable": {"thread_id": claim.execution_id, "__synthral_run": ctx},
        "recursion_limit": version.workflow.settings.max_steps + 10,
    }

    async def end(
        status: str, *, output: Any = None, failure: StepFailed | None = None, error: tuple[str, str] | None = None
    ) -> str:
        """Record the run's end, fenced, with every queued step record and the follow-ups."""
        error_type, message = error or ((failure.error.error_type, failure.error.message) if failure else (None, None))
        follow_up = await _after_end(engine, execution, version, status, output=output, failure=failure)

        def record(connection: Connection) -> None:
            state.finish(
                connection,
                claim.execution_id,
                status,
                output=output,
                error_type=error_type,
                error_message=message,
                error_node=failure.node_id if failure else None,
            )
            if status != ExecutionStatus.PAUSED:
                follow_up(connection)

        try:
            await ctx.guard.run(engine.database, record)
        except LeaseLost:
            log.warning(
                "execution %s: lease lost before its end was recorded; its new holder ends it", claim.execution_id
            )
            return "lease_lost"
        engine.notify()
        observe.run_finished(
            execution_id=claim.execution_id,
            workflow_id=version.workflow_id,
            workflow=version.name,
            workspace_id=version.workspace_id,
            status=status,
            trigger=getattr(execution, "trigger", None),
            error_type=error_type,
            error_message=message,
            node_id=failure.node_id if failure else None,
        )
        return status

    try:
        graph = _compiled(engine, version)
        snapshot = await engine.saver.aget_tuple({"configurable": {"thread_id": claim.execution_id}})
        if snapshot is None:
            inp: Any = {TRIGGER_KEY: ctx.execution_input}
        elif any(write[1] == "__interrupt__" for write in snapshot.pending_writes or ()):
            inp = Command(resume=True)
        else:
            inp = None
        result = await graph.ainvoke(inp, config, durability="async")
        if isinstance(result, dict) and result.get("__interrupt__"):
            # The suspension travels with the release, fenced: a run is never released unsuspended.
            await ctx.guard.run(
                engine.database,
                lambda connection: state.release(connection, claim.execution_id, claim.fencing_token),
            )
            return ExecutionStatus.WAITING
        output = {
            node_id: unpack_output(ctx, result[state_key(node_id)].get("output"))
            for node_id in terminal_nodes(version.workflow)
            if state_key(node_id) in result
        }
        return await end(ExecutionStatus.COMPLETED, output=output)
    except LeaseLost:
        log.warning("execution %s: lease lost; another worker continues it", claim.execution_id)
        return "lease_lost"
    except PauseRequested:
        return await end(ExecutionStatus.PAUSED)
    except (CancelRequested, asyncio.CancelledError) as exc:
        if isinstance(exc, asyncio.CancelledError) and not ctx.guard.cancel_requested:
            raise  # the worker itself is stopping: leave the run for the next worker
        return await end(ExecutionStatus.CANCELLED)
    except StepFailed as failure:
        return await end(ExecutionStatus.FAILED, failure=failure)
    except Exception as exc:
        if engine.database.unavailable(exc) is not None:
            raise  # the database's fault, not the run's: run_claim drops the run, unended
        log.exception("execution %s failed", claim.execution_id)
        return await end(ExecutionStatus.FAILED, error=error_of(exc))


async def _after_end(
    engine: Engine, execution: Any, version: SavedVersion, status: str, *, output: Any, failure: StepFailed | None
) -> Callable[[Connection], None]:
    """Bookkeeping committed with a run's end: wake the parent, start the error workflow."""
    error_workflow = version.workflow.settings.error_workflow
    target: SavedVersion | None = None
    if status == ExecutionStatus.FAILED and error_workflow:
        try:
            async with engine.database.engine.connect() as connection:
                row = await get_workflow_row(connection, error_workflow, version.workspace_id)
                target = await get_version(connection, row.id)
        except ConfigurationError:
            log.warning("execution %s failed and its error workflow %r does not exist", execution.id, error_workflow)

    def op(connection: Connection) -> None:
        if execution.parent_execution_id:
            state.deliver_signal(
                engine.database,
                connection,
                execution.parent_execution_id,
                signal_type="child_completed",
                name=execution.id,
                data={"status": status, "output": output},
                dedupe_key=f"child:{execution.id}",
            )
        if target is not None:
            error = failure.error if failure else None
            state.enqueue(
                connection,
                state.NewRun(
                    workflow_id=target.workflow_id,
                    workflow_version=target.version,
                    trigger="error",
                    input={
                        "execution_id": execution.id,
                        "workflow": version.name,
                        "version": version.version,
                        "node": failure.node_id if failure else None,
                        "error": {
                            "type": error.error_type if error else None,
                            "message": error.message if error else None,
                        },
                    },
                ),
            )

    return op


async def _heartbeat(engine: Engine, guard: RunGuard, run_task: asyncio.Task[Any]) -> None:
    """Extend the lease while a step runs; stop the run if the lease is lost or it is cancelled."""
    while True:
        await asyncio.sleep(engine.lease_seconds / 3)
        try:
            await guard.run(engine.database)
            engine.outage.recovered()
        except LeaseLost:
            log.warning("execution %s: lease lost; another worker continues it", guard.execution_id)
            run_task.cancel()
            return
        except Exception as exc:
            trouble = engine.database.unavailable(exc)
            if trouble is not None:
                engine.outage.failed(trouble)  # said once per outage, not per beat
            else:
                log.warning("execution %s: heartbeat failed; retrying", guard.execution_id, exc_info=True)
            continue
        if guard.cancel_requested:
            run_task.cancel()
            return


def _give_back(claim: state.Claim, connection: Connection) -> None:
    """Release a run the database failed under, claimable at once (unless its lease moved on)."""
    state.release(connection, claim.execution_id, claim.fencing_token, run_at=utcnow())


class Worker:
    """Claims and runs executions, up to ``concurrency`` at once.

    Args:
        engine: The engine to run them on.
        concurrency: Executions run at the same time (``WORKFLOW_WORKER_CONCURRENCY``).
        poll_interval: Seconds between looks at the queue when nothing woke the worker.
        idle_ceiling: None to look every ``poll_interval``; else (a host that alone writes its
            database) sleep until the next run is due, this process changes something, or
            ``idle_ceiling`` seconds pass (see :mod:`synthral.engine.idle`).
        on_run_end: Called with the execution id and the status it reached each time one of
            this worker's runs returns (it ended, waits or paused).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        concurrency: int = 10,
        poll_interval: float = 0.5,
        idle_ceiling: float | None = None,
        on_run_end: Callable[[str, str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.pacing = Pacing(poll_interval, idle_ceiling)
        self.on_run_end = on_run_end
        self.running: dict[str, asyncio.Task[str]] = {}
        self.claims: dict[str, state.Claim] = {}
        self.dropped: list[state.Claim] = []
        """Runs the database failed under: given back (claimable at once) when it answers again."""
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Stop claiming; runs in progress are cancelled and left for the next worker."""
        self._stop.set()
        self.engine.notify()

    async def run(self) -> None:
        """Claim and run until :meth:`stop`, through database outages (it backs off and retries)."""
        waiter = Waiter(self.pacing, self.engine.wakeup, self.engine.database.changes)
        try:
            while not self._stop.is_set():
                # Cleared before looking: a notify() that lands while we claim is not lost.
                self.engine.wakeup.clear()
                waiter.begin_pass()
                try:
                    claim = await self._next()
                except Exception as exc:
                    trouble = self.engine.database.unavailable(exc)
                    if trouble is None:
                        log.exception("worker %s: claiming failed; retrying", self.engine.worker_id)
                        pause = self.poll_interval * 10
                    else:
                        pause = self.engine.outage.failed(trouble)
                    await waiter.sleep(pause)
                    continue
                if claim is not None:
                    task = asyncio.create_task(run_claim(self.engine, claim))
                    self.running[claim.execution_id] = task
                    self.claims[claim.execution_id] = claim
                    task.add_done_callback(functools.partial(self._done, claim.execution_id))
                    continue
                await waiter.sleep(await self._idle_pause())
        finally:
            waiter.close()
            tasks = list(self.running.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _next(self) -> state.Claim | None:
        """Give back the runs the database failed under, then claim one if there is room."""
        database = self.engine.database
        wrote = bool(self.dropped)
        while self.dropped:
            await database.write(functools.partial(_give_back, self.dropped[0]))
            self.dropped.pop(0)
        claim = None
        if len(self.running) < self.concurrency:
            claim = await state.claim(database, self.engine.worker_id, self.engine.lease_seconds)
        self.engine.outage.recovered(wrote=wrote or claim is not None)
        return claim

    async def _idle_pause(self) -> float:
        """Seconds to sleep when there was nothing to claim."""
        if self.pacing.polls or len(self.running) >= self.concurrency:
            return self.poll_interval  # full: a run ending wakes the worker
        try:
            due = await state.next_due(self.engine.database)
        except Exception as exc:
            if self.engine.database.unavailable(exc) is None:
                log.exception("worker %s: reading the queue failed; retrying", self.engine.worker_id)
            return self.poll_interval  # the next claim meets the outage and says so
        return self.pacing.pause(due)

    def _done(self, execution_id: str, task: asyncio.Task[str]) -> None:
        self.running.pop(execution_id, None)
        claim = self.claims.pop(execution_id, None)
        if not task.cancelled() and task.exception() is None:
            if task.result() == INTERRUPTED and claim is not None:
                self.dropped.append(claim)
            elif self.on_run_end is not None:
                self.on_run_end(execution_id, task.result())
        elif not task.cancelled():
            log.error("execution %s: worker task crashed", execution_id, exc_info=task.exception())
        self.engine.notify()
