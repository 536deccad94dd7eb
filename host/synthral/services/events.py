"""Live execution events, read from the history every worker writes (any process, any backend).

A watcher polls the ``step`` and ``workflow_execution`` tables of one workspace (or one
execution) and turns what changed since its last look into events: a step started,
finished, failed or is being retried; a run queued, started, waiting, paused, completed,
failed or cancelled. Polling the tables every worker already writes needs no broker and
sees runs of worker processes on other machines as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from synthral.store.ai_tables import STEP_EVENT
from synthral.store.db import Database
from synthral.store.models import ExecutionStatus, Step, StepStatus, WorkflowExecution
from synthral.store.models import Workflow as WorkflowRow

__all__ = ["EventWatcher"]

EXEC = WorkflowExecution.__table__  # type: ignore[attr-defined]
STEP = Step.__table__  # type: ignore[attr-defined]
WF = WorkflowRow.__table__  # type: ignore[attr-defined]
BATCH = 500
_STEP_COLUMNS = tuple(
    STEP.c[name]
    for name in ("id", "execution_id", "node_id", "iteration", "attempt", "status", "started_at", "duration_ms",
                 "error_type", "error_message", "retryable")
)  # fmt: skip

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
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


@dataclass
class EventWatcher:
    """What one subscriber has seen of one workspace (or one execution in it)."""

    database: Database
    workspace_id: str
    execution_id: str | None = None
    last_step: int = 0
    steps: dict[int, str] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    started: bool = False
    last_event: int = 0

    async def start(self) -> None:
        """Remember where history stands now: only what happens from here on is reported."""
        async with self.database.engine.connect() as connection:
            row = (await connection.execute(select(STEP.c.id).order_by(STEP.c.id.desc()).limit(1))).first()
            self.last_step = int(row[0]) if row else 0
            row = (await connection.execute(select(STEP_EVENT.c.id).order_by(STEP_EVENT.c.id.desc()).limit(1))).first()
            self.last_event = int(row[0]) if row else 0
            for execution_id, status in await connection.execute(
                self._runs().with_only_columns(EXEC.c.id, EXEC.c.status)
            ):
                self.statuses[execution_id] = status
        self.started = True

    def _runs(self) -> Any:
        query = select(EXEC).join(WF, WF.c.id == EXEC.c.workflow_id).where(WF.c.workspace_id == self.workspace_id)
        if self.execution_id is not None:
            return query.where(EXEC.c.id == self.execution_id)
        tracked = [k for k, v in self.statuses.items() if v not in ExecutionStatus.TERMINAL]
        live = EXEC.c.status.notin_(tuple(ExecutionStatus.TERMINAL))
        return query.where(live | EXEC.c.id.in_(tracked) if tracked else live).limit(BATCH)

    async def poll(self) -> list[dict[str, Any]]:
        """The events since the last poll, oldest first."""
        events: list[dict[str, Any]] = []
        async with self.database.engine.connect() as connection:
            runs = (await connection.execute(self._runs())).all()
            steps_query = (
                select(*_STEP_COLUMNS)
                .join(EXEC, EXEC.c.id == STEP.c.execution_id)
                .join(WF, WF.c.id == EXEC.c.workflow_id)
                .where(WF.c.workspace_id == self.workspace_id, STEP.c.id > self.last_step)
                .order_by(STEP.c.id)
                .limit(BATCH)
            )
            if self.execution_id is not None:
                steps_query = steps_query.where(STEP.c.execution_id == self.execution_id)
            steps = (await connection.execute(steps_query)).all()
            # Steps seen running: report when they end (their row is updated in place).
            open_ids = [i for i, s in self.steps.items() if s == StepStatus.RUNNING]
            ended = (
                (await connection.execute(select(*_STEP_COLUMNS).where(STEP.c.id.in_(open_ids)))).all()
                if open_ids
                else []
            )
            live = (await connection.execute(self._step_events_query())).all()
        for row in [*ended, *steps]:
            events.extend(self._step_events(row))
        for row in live:
            events.append(
                {"event": "step.event", "execution_id": row.execution_id, "node_id": row.node_id, "kind": row.kind,
                 "data": row.data, "event_id": row.id}
            )  # fmt: skip
        if live:
            self.last_event = max(self.last_event, int(live[-1].id))
        for row in runs:
            if self.statuses.get(row.id) != row.status:
                self.statuses[row.id] = row.status
                events.append(
                    {
                        "event": _RUN_EVENTS.get(row.status, f"execution.{row.status}"),
                        "execution_id": row.id,
                        "workflow_id": row.workflow_id,
                        "status": row.status,
                        "waiting_for": row.waiting_for,
                        "error_type": row.error_type,
                        "error_message": row.error_message,
                    }
                )
        if steps:
            self.last_step = max(self.last_step, int(steps[-1].id))
        return events

    def _step_events_query(self) -> Any:
        """Events steps emitted since the last poll (tokens, agent steps), of this workspace or run."""
        query = (
            select(STEP_EVENT)
            .join(EXEC, EXEC.c.id == STEP_EVENT.c.execution_id)
            .join(WF, WF.c.id == EXEC.c.workflow_id)
            .where(WF.c.workspace_id == self.workspace_id, STEP_EVENT.c.id > self.last_event)
            .order_by(STEP_EVENT.c.id)
            .limit(BATCH)
        )
        if self.execution_id is not None:
            query = query.where(STEP_EVENT.c.execution_id == self.execution_id)
        return query

    def _step_events(self, row: Any) -> list[dict[str, Any]]:
        seen = self.steps.get(row.id)
        if seen == row.status:
            return []
        self.steps[row.id] = row.status
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
        elif row.status == StepStatus.CANCELLED:
            events.append({"event": "step.cancelled", **base})
        if row.status != StepStatus.RUNNING:
            self.steps.pop(row.id, None)
        return events
