"""Cron schedules: one row per cron trigger of a workflow's latest version.

:func:`sync_schedules` keeps the rows in line with the triggers when a workflow is saved;
the scheduler (``synthral scheduler``) fires them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger as ApsCron
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from synthral.engine.model import CronTrigger, Workflow
from synthral.store.models import WorkflowSchedule, new_id, utcnow

__all__ = ["cron_trigger", "next_fire", "sync_schedules"]

SCHEDULE = WorkflowSchedule.__table__  # type: ignore[attr-defined]


def cron_trigger(expression: str, timezone: str) -> ApsCron:
    """APScheduler 3's cron trigger for a five-field expression in a time zone."""
    return ApsCron.from_crontab(expression, timezone=ZoneInfo(timezone))


def next_fire(expression: str, timezone: str, after: datetime) -> datetime | None:
    """The first slot strictly after ``after`` (APScheduler rounds up to whole seconds)."""
    return cron_trigger(expression, timezone).get_next_fire_time(None, after + timedelta(microseconds=1))


async def sync_schedules(connection: AsyncConnection, workflow_id: str, workflow: Workflow) -> None:
    """Create, update or remove the workflow's schedule rows to match its cron triggers."""
    existing = {
        row.trigger_index: row
        for row in await connection.execute(select(SCHEDULE).where(SCHEDULE.c.workflow_id == workflow_id))
    }
    wanted = {index: trigger for index, trigger in enumerate(workflow.triggers) if isinstance(trigger, CronTrigger)}
    for index in set(existing) - set(wanted):
        await connection.execute(delete(SCHEDULE).where(SCHEDULE.c.id == existing[index].id))
    now = utcnow()
    for index, trigger in wanted.items():
        row = existing.get(index)
        changed = row is None or (row.cron_expression, row.timezone) != (trigger.cron, trigger.timezone)
        values = {
            "cron_expression": trigger.cron,
            "timezone": trigger.timezone,
            "catch_up": trigger.catch_up.value,
            "input": trigger.input,
            "is_active": True,
        }
        if row is None:
            await connection.execute(
                insert(SCHEDULE).values(
                    id=new_id(), workflow_id=workflow_id, trigger_index=index, fired_count=0, missed_count=0,
                    next_run_at=next_fire(trigger.cron, trigger.timezone, now), **values,
                )
            )  # fmt: skip
        else:
            if changed:
                values["next_run_at"] = next_fire(trigger.cron, trigger.timezone, now)
            await connection.execute(update(SCHEDULE).where(SCHEDULE.c.id == row.id).values(**values))
