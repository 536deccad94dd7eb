"""Operations views for a workspace's owners: workers, the queue, failed runs, plugin processes.

Everything here is read from the durable state every worker writes (leases on runs, the
worker named on each step attempt), so workers of other processes and machines show up too;
plugin processes are this server process's own.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from synthral.engine.schedules import as_utc
from synthral.errors import SynthralError
from synthral.plugins.host import PluginHost
from synthral.services.workflows import WorkflowService
from synthral.store.tables import EXECUTION, STEP, WORKFLOW, ExecutionStatus

__all__ = ["MAX_BULK", "AdminService", "Health", "ReplayOutcome", "rss_bytes"]

WORKER_WINDOW = timedelta(minutes=10)
MAX_BULK = 100


@dataclass
class Health:
    """The state of the workers and of the workspace's queue at one moment."""

    checked_at: str
    workers: list[dict[str, Any]] = field(default_factory=list)
    queue: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplayOutcome:
    """What a bulk replay did with one run."""

    execution_id: str
    replayed_as: str | None
    error: str | None


def rss_bytes(pid: int | None) -> int | None:
    """The resident memory of a process, from /proc (None where there is no /proc or no process)."""
    if pid is None:
        return None
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


class AdminService:
    """Health, retry management and plugin processes."""

    def __init__(self, workflows: WorkflowService, plugins: PluginHost) -> None:
        self.workflows = workflows
        self.plugins = plugins

    async def health(self, workspace_id: str, *, now: datetime | None = None) -> Health:
        """Workers seen lately (server-wide) and the workspace's queue: depth, oldest queued run, live runs."""
        moment = now or datetime.now(UTC)
        mine = select(WORKFLOW.c.id).where(WORKFLOW.c.workspace_id == workspace_id)
        in_space = EXECUTION.c.workflow_id.in_(mine)
        async with self.workflows.database.engine.connect() as connection:
            leases = (
                await connection.execute(
                    select(EXECUTION.c.lease_owner, func.count(), func.max(EXECUTION.c.lease_expires_at))
                    .where(EXECUTION.c.lease_owner.is_not(None), EXECUTION.c.lease_expires_at > moment)
                    .group_by(EXECUTION.c.lease_owner)
                )
            ).all()
            recent = (
                await connection.execute(
                    select(STEP.c.worker, func.count(), func.max(STEP.c.started_at))
                    .where(STEP.c.worker.is_not(None), STEP.c.started_at > moment - WORKER_WINDOW)
                    .group_by(STEP.c.worker)
                )
            ).all()
            by_status: dict[str, int] = dict(
                (
                    await connection.execute(
                        select(EXECUTION.c.status, func.count())
                        .where(in_space, EXECUTION.c.status.notin_(tuple(ExecutionStatus.TERMINAL)))
                        .group_by(EXECUTION.c.status)
                    )
                ).all()
            )
            due = (
                await connection.execute(
                    select(func.count(), func.min(EXECUTION.c.started_at)).where(
                        in_space, EXECUTION.c.status == ExecutionStatus.QUEUED, EXECUTION.c.next_run_at <= moment
                    )
                )
            ).one()
            failed_day = (
                await connection.execute(
                    select(func.count()).where(
                        in_space,
                        EXECUTION.c.status == ExecutionStatus.FAILED,
                        EXECUTION.c.completed_at > moment - timedelta(days=1),
                    )
                )
            ).scalar_one()
        workers: dict[str, dict[str, Any]] = {}
        for name, steps, last in recent:
            workers[name] = {"worker": name, "runs_held": 0, "steps_10m": int(steps), "last_seen": _iso(last)}
        for name, runs, expires in leases:
            entry = workers.setdefault(name, {"worker": name, "runs_held": 0, "steps_10m": 0, "last_seen": None})
            entry["runs_held"] = int(runs)
            entry["lease_expires_at"] = _iso(expires)
        oldest = as_utc(due[1]) if due[1] is not None else None
        return Health(
            checked_at=moment.isoformat(),
            workers=sorted(workers.values(), key=lambda w: str(w["worker"])),
            queue={
                "queued": int(by_status.get(ExecutionStatus.QUEUED, 0)),
                "due": int(due[0]),
                "running": int(by_status.get(ExecutionStatus.RUNNING, 0)),
                "waiting": int(by_status.get(ExecutionStatus.WAITING, 0)),
                "paused": int(by_status.get(ExecutionStatus.PAUSED, 0)),
                "oldest_queued_at": _iso(oldest),
                "oldest_queued_seconds": None if oldest is None else max(0.0, (moment - oldest).total_seconds()),
                "failed_24h": int(failed_day),
            },
        )

    async def replay_many(self, execution_ids: list[str], *, workspace_id: str) -> list[ReplayOutcome]:
        """Replay each finished run from the step that failed; one that cannot be replayed says why."""
        outcomes = []
        for execution_id in dict.fromkeys(execution_ids):
            try:
                new_id = await self.workflows.replay(execution_id, workspace_id=workspace_id)
            except SynthralError as exc:
                outcomes.append(ReplayOutcome(execution_id, None, exc.message))
            else:
                outcomes.append(ReplayOutcome(execution_id, new_id, None))
        return outcomes

    def processes(self) -> list[dict[str, Any]]:
        """Every installed plugin version's process: state, pid, restarts, uptime, resident memory."""
        rows = []
        for info in self.plugins.plugins():
            if info.builtin:
                continue
            process = dict(info.process)
            pid = process.get("pid")
            rows.append(
                {
                    "name": info.name,
                    "version": info.version,
                    "enabled": info.enabled,
                    "state": process.get("state", "stopped"),
                    "pid": pid,
                    "restarts": process.get("restarts", 0),
                    "consecutive_failures": process.get("consecutiveFailures", 0),
                    "uptime_seconds": process.get("uptimeSeconds"),
                    "rss_bytes": rss_bytes(pid if isinstance(pid, int) else None),
                }
            )
        return rows
