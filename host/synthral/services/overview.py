"""Summaries for listings: the latest run of each workflow."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from synthral.engine.schedules import as_utc
from synthral.store.db import Database
from synthral.store.tables import EXECUTION

__all__ = ["last_runs"]


async def last_runs(database: Database, workflow_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Map each workflow id to its newest run's id, status and start time (workflows never run are left out)."""
    if not workflow_ids:
        return {}
    newest = (
        select(EXECUTION.c.workflow_id, func.max(EXECUTION.c.started_at).label("at"))
        .where(EXECUTION.c.workflow_id.in_(workflow_ids))
        .group_by(EXECUTION.c.workflow_id)
        .subquery()
    )
    query = select(EXECUTION.c.workflow_id, EXECUTION.c.id, EXECUTION.c.status, EXECUTION.c.started_at).join(
        newest, (newest.c.workflow_id == EXECUTION.c.workflow_id) & (newest.c.at == EXECUTION.c.started_at)
    )
    async with database.engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        found[row.workflow_id] = {
            "execution_id": row.id,
            "status": row.status,
            "started_at": as_utc(row.started_at).isoformat(),
        }
    return found
