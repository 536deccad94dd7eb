"""Live execution events, read from the history every worker writes (any process, any backend).

One :class:`EventHub` per server process runs one query loop, whatever the number of
subscribers: each pass reads the ``step`` rows written since the last pass (and the steps
seen running, which are updated in place) and the runs of the workspaces someone watches,
turns what changed into events — a step started, finished, failed or is being retried; a
run queued, started, waiting, paused, completed, failed or cancelled — and hands each event
to the subscribers of its workspace (or of its execution). A hundred open canvases cost one
loop. Polling the tables every worker already writes needs no broker and sees runs of
worker processes on other machines as well.

The loop keeps pace with the work: every ``interval`` (0.1 s) while a watched run is queued or
running, at once again while a backlog is being read, and every ``idle_interval`` (1 s) when
nothing runs. A run started in this process wakes it at once (:meth:`EventHub.wake`, which
the engine's :meth:`~synthral.engine.runtime.Engine.notify` calls), so the first events of a
run never wait for the idle interval; and each commit of a run in this process brings the
next pass forward to within ``soon_gap`` (20 ms) of the last one (:meth:`EventHub.soon`), so
a one-process server shows steps as their records commit rather than at the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select

from synthral.store.ai_tables import STEP_EVENT
from synthral.store.db import Database
from synthral.store.outage import Outage
from synthral.store.tables import EXECUTION, STEP, WORKFLOW, ExecutionStatus, StepStatus, utcnow

__all__ = ["EventHub", "Subscription"]

log = logging.getLogger("synthral.events")

BATCH: Final = 500
"""Step rows read per pass; a longer backlog is read on the next passes."""
QUEUE: Final = 10_000
"""Events waiting for one subscriber at most; a subscriber that falls further behind is dropped."""
ENDED_SLACK: Final = timedelta(seconds=5)
"""How far before the last pass an end time may lie and still be read (workers' clocks differ a little)."""

_STEP_COLUMNS = (
    STEP.c.id,
    STEP.c.execution_id,
    STEP.c.node_id,
    STEP.c.iteration,
    STEP.c.attempt,
    STEP.c.status,
    STEP.c.started_at,
    STEP.c.duration_ms,
    STEP.c.error_type,
    STEP.c.error_message,
    STEP.c.retryable,
    WORKFLOW.c.workspace_id,
)
_RUN_COLUMNS = (
    EXECUTION.c.id,
    EXECUTION.c.workflow_id,
    EXECUTION.c.status,
    EXECUTION.c.waiting_for,
    EXECUTION.c.error_type,
    EXECUTION.c.error_message,
    WORKFLOW.c.workspace_id,
)
_RUN_EVENTS = {
    ExecutionStatus.QUEUED: "execution.queued",
    ExecutionStatus.RUNNING: "execution.started",
    ExecutionStatus.WAITING: "execution.waiting",
    ExecutionStatus.PAUSED: "execution.paused",
    ExecutionStatus.COMPLETED: "execution.completed",
    ExecutionStatus.FAILED: "execution.failed",
    ExecutionStatus.CANCELLED: "execution.cancelled",
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(eq=False)
class Subscription:
    """One subscriber's view: the events of a workspace (or one execution in it) from now on.

    Attributes:
        workspace_id: The workspace watched.
        execution_id: Only this execution's events; None for the whole workspace.
        since_step: Steps up to this id happened before the subscription.
        since_event: Step events (tokens, agent steps) up to this id were emitted before it.
        overflowed: The subscriber fell too far behind and was dropped; it should reconnect.
    """

    workspace_id: str
    execution_id: str | None
    since_step: int
    since_event: int = 0
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE))
    overflowed: bool = False

    def wants(self, event: dict[str, Any], workspace_id: str | None) -> bool:
        """Whether this subscriber gets ``event`` of a run in ``workspace_id``."""
        if workspace_id != self.workspace_id:
            return False
        if self.execution_id is not None and event.get("execution_id") != self.execution_id:
            return False
        if event.get("event_id") is not None:
            return int(event["event_id"]) > self.since_event
        step = event.get("step_id")
        return step is None or int(step) > self.since_step

    def push(self, event: dict[str, Any]) -> None:
        """Queue an event (non-blocking); drop the subscriber when it is too far behind."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

    async def next(self, timeout: float) -> list[dict[str, Any]]:
        """The events that arrived, waiting up to ``timeout`` seconds for the first."""
        events: list[dict[str, Any]] = []
        with contextlib.suppress(TimeoutError):
            events.append(await asyncio.wait_for(self.queue.get(), timeout))
        while not self.queue.empty():
            events.append(self.queue.get_nowait())
        return events


class EventHub:
    """One loop per process reading what changed and fanning it out to the subscribers.

    Args:
        database: The database every worker writes the history to.
        interval: Seconds between passes while a watched run is queued or running.
        idle_interval: Seconds between passes while none is (a wake-up cuts it short).
        soon_gap: Seconds at least between passes made because a run of this process
            committed history (:meth:`soon`).
    """

    def __init__(
        self,
        database: Database,
        *,
        interval: float = 0.1,
        idle_interval: float = 1.0,
        soon_gap: float = 0.02,
        outage: Outage | None = None,
    ) -> None:
        self.database = database
        self.interval = interval
        self.idle_interval = idle_interval
        self.soon_gap = soon_gap
        self._woken = asyncio.Event()
        self._last_pass = 0.0
        self._soon: asyncio.TimerHandle | None = None
        self.outage = outage or Outage(log, "live events")
        self.passes = 0
        """Passes made so far (one query set each, however many subscribers)."""
        self._subscribers: set[Subscription] = set()
        self._workspaces: Counter[str] = Counter()
        self._last_step = 0
        self._last_event = 0
        self._open_steps: dict[int, str] = {}
        self._statuses: dict[str, str] = {}
        self._since = utcnow()
        """When the last pass started: runs that ended after it are read even if never seen live."""
        self._loop: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def subscribe(self, workspace_id: str, execution_id: str | None = None) -> Subscription:
        """Start receiving the events of ``workspace_id`` (or of one execution in it) from now on."""
        async with self._lock:
            if not self._subscribers:
                self._since = utcnow()  # the loop was idle: runs that ended meanwhile are history
            async with self.database.engine.connect() as connection:
                newest = (await connection.execute(select(func.max(STEP.c.id)))).scalar()
                newest_event = (await connection.execute(select(func.max(STEP_EVENT.c.id)))).scalar()
                if not self._workspaces[workspace_id]:
                    # A workspace nobody watched yet: its runs' states now are the baseline.
                    live = await connection.execute(
                        self._runs([workspace_id]).with_only_columns(EXECUTION.c.id, EXECUTION.c.status)
                    )
                    self._statuses.update({row.id: row.status for row in live})
            since, since_event = int(newest or 0), int(newest_event or 0)
            if not self._subscribers:
                self._last_step, self._last_event = since, since_event
            subscription = Subscription(workspace_id, execution_id, since, since_event)
            self._subscribers.add(subscription)
            self._workspaces[workspace_id] += 1
            if self._loop is None or self._loop.done():
                self._loop = asyncio.create_task(self._run(), name="synthral-event-hub")
            return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to ``subscription``; the loop stops when nobody is left."""
        if subscription in self._subscribers:
            self._subscribers.discard(subscription)
            self._workspaces[subscription.workspace_id] -= 1
            if not self._workspaces[subscription.workspace_id]:
                del self._workspaces[subscription.workspace_id]

    async def close(self) -> None:
        """Stop the loop."""
        self._subscribers.clear()
        self._workspaces.clear()
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop

    @property
    def subscribers(self) -> int:
        """How many subscribers there are."""
        return len(self._subscribers)

    def wake(self) -> None:
        """Make the next pass now: a run was queued or resumed in this process."""
        self._woken.set()

    def soon(self) -> None:
        """A run of this process committed history: make the next pass within ``soon_gap`` seconds.

        Passes made this way are at least ``soon_gap`` apart, however often runs commit.
        """
        if self._soon is not None or self._woken.is_set() or not self._subscribers:
            return
        loop = asyncio.get_running_loop()
        delay = self._last_pass + self.soon_gap - loop.time()
        if delay <= 0:
            self._woken.set()
        else:
            self._soon = loop.call_later(delay, self._soon_due)

    def _soon_due(self) -> None:
        self._soon = None
        self._woken.set()

    async def _run(self) -> None:
        while self._subscribers:
            self._woken.clear()
            self._last_pass = asyncio.get_running_loop().time()
            pause = self.interval
            try:
                pause = self._pause(await self.poll_once())
                self.outage.recovered(wrote=False)
            except Exception as exc:  # the database restarting: say so once, keep the subscribers
                trouble = self.database.unavailable(exc)
                if trouble is None:
                    log.exception("live events: reading the history failed; retrying")
                else:
                    pause = max(self.interval, self.outage.failed(trouble))
            if pause > 0 and not self._woken.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), pause)
            else:
                await asyncio.sleep(0)  # a backlog: read on, letting the subscribers send

    def _pause(self, rows: int) -> float:
        """Seconds until the next pass, after one that read ``rows`` step and event rows."""
        if rows >= BATCH:
            return 0.0
        active = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)
        if rows or self._open_steps or any(status in active for status in self._statuses.values()):
            return self.interval
        return self.idle_interval

    def _runs(self, workspaces: list[str]) -> Any:
        tracked = [k for k, v in self._statuses.items() if v not in ExecutionStatus.TERMINAL]
        # Live runs, the ones seen live, and those that ended since the last pass: a run can be
        # queued, run and end between two passes and must still be reported as ended.
        wanted = EXECUTION.c.status.notin_(tuple(ExecutionStatus.TERMINAL)) | (
            EXECUTION.c.completed_at >= self._since - ENDED_SLACK
        )
        if tracked:
            wanted = wanted | EXECUTION.c.id.in_(tracked)
        return (
            select(*_RUN_COLUMNS)
            .join(WORKFLOW, WORKFLOW.c.id == EXECUTION.c.workflow_id)
            .where(WORKFLOW.c.workspace_id.in_(workspaces), wanted)
            .limit(BATCH * 10)
        )

    async def poll_once(self) -> int:
        """One pass: read what changed since the last, hand each event to whoever wants it.

        Returns:
            The most rows read of one kind (steps, or step events): :data:`BATCH` means more wait.
        """
        self.passes += 1
        workspaces = list(self._workspaces)
        if not workspaces:
            return 0
        started = utcnow()
        async with self.database.engine.connect() as connection:
            steps = (
                await connection.execute(
                    select(*_STEP_COLUMNS)
                    .join(EXECUTION, EXECUTION.c.id == STEP.c.execution_id)
                    .join(WORKFLOW, WORKFLOW.c.id == EXECUTION.c.workflow_id)
                    .where(STEP.c.id > self._last_step, WORKFLOW.c.workspace_id.in_(workspaces))
                    .order_by(STEP.c.id)
                    .limit(BATCH)
                )
            ).all()
            open_ids = list(self._open_steps)
            ended = (
                (
                    await connection.execute(
                        select(*_STEP_COLUMNS)
                        .join(EXECUTION, EXECUTION.c.id == STEP.c.execution_id)
                        .join(WORKFLOW, WORKFLOW.c.id == EXECUTION.c.workflow_id)
                        .where(STEP.c.id.in_(open_ids))
                    )
                ).all()
                if open_ids
                else []
            )
            runs = (await connection.execute(self._runs(workspaces))).all()
            live = (await connection.execute(self._step_events_query(workspaces))).all()
        self._since = started
        if steps:
            self._last_step = max(self._last_step, int(steps[-1].id))
        for row in [*ended, *steps]:
            for event in self._step_events(row):
                self._deliver(event, row.workspace_id)
        for row in live:
            event = {
                "event": "step.event",
                "execution_id": row.execution_id,
                "node_id": row.node_id,
                "kind": row.kind,
                "data": row.data,
                "event_id": row.id,
            }
            self._deliver(event, row.workspace_id)
        if live:
            self._last_event = max(self._last_event, int(live[-1].id))
        for row in runs:
            if self._statuses.get(row.id) != row.status:
                self._statuses[row.id] = row.status
                event = {
                    "event": _RUN_EVENTS.get(row.status, f"execution.{row.status}"),
                    "execution_id": row.id,
                    "workflow_id": row.workflow_id,
                    "status": row.status,
                    "waiting_for": row.waiting_for,
                    "error_type": row.error_type,
                    "error_message": row.error_message,
                }
                self._deliver(event, row.workspace_id)
        self._forget_finished()
        return max(len(steps), len(live))

    def _deliver(self, event: dict[str, Any], workspace_id: str | None) -> None:
        for subscription in self._subscribers:
            if subscription.wants(event, workspace_id):
                subscription.push(event)

    def _forget_finished(self) -> None:
        if len(self._statuses) > BATCH * 20:
            self._statuses = {k: v for k, v in self._statuses.items() if v not in ExecutionStatus.TERMINAL}

    def _step_events_query(self, workspaces: list[str]) -> Any:
        """Events steps emitted since the last pass (tokens, agent steps) in the watched workspaces."""
        return (
            select(STEP_EVENT, WORKFLOW.c.workspace_id)
            .join(EXECUTION, EXECUTION.c.id == STEP_EVENT.c.execution_id)
            .join(WORKFLOW, WORKFLOW.c.id == EXECUTION.c.workflow_id)
            .where(WORKFLOW.c.workspace_id.in_(workspaces), STEP_EVENT.c.id > self._last_event)
            .order_by(STEP_EVENT.c.id)
            .limit(BATCH)
        )

    def _step_events(self, row: Any) -> list[dict[str, Any]]:
        seen = self._open_steps.get(row.id)
        if seen == row.status:
            return []
        base = {
            "execution_id": row.execution_id,
            "node_id": row.node_id,
            "iteration": row.iteration,
            "attempt": row.attempt,
            "step_id": row.id,
        }
        events = []
        if seen is None:
            events.append({"event": "step.started", **base, "started_at": _iso(row.started_at)})
        if row.status == StepStatus.COMPLETED:
            events.append({"event": "step.finished", **base, "duration_ms": row.duration_ms})
        elif row.status == StepStatus.FAILED:
            kind = "step.retrying" if row.retryable else "step.failed"
            events.append({"event": kind, **base, "error_type": row.error_type, "error_message": row.error_message})
        elif row.status == StepStatus.WAITING:
            events.append({"event": "step.waiting", **base})
        elif row.status in (StepStatus.CANCELLED, StepStatus.ABANDONED):
            events.append({"event": f"step.{row.status}", **base})
        if row.status in (StepStatus.RUNNING, StepStatus.WAITING):  # updated in place when they end
            self._open_steps[row.id] = row.status
        else:
            self._open_steps.pop(row.id, None)
        return events
