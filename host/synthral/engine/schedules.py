"""Cron schedules: one row per cron trigger of a workflow's latest version.

:func:`sync_schedules` keeps the rows in line with the triggers when a workflow is saved;
the scheduler (:mod:`synthral.engine.scheduler`, ``synthral scheduler``) fires them.

Slots are computed by APScheduler 3 in the schedule's time zone and handed out in UTC:
SQLite keeps no offset with a time, so only UTC values can be stored and compared there.
Around daylight-saving changes APScheduler does this (Europe/Paris as the example):

- A wall time in the skipped hour (02:00-03:00 on the last Sunday of March) is read with
  the offset in force before the change, so ``30 2 * * *`` fires once that day, at 03:30
  by the clock (01:30 UTC), and ``0 2 * * *`` at 03:00.
- A wall time in the repeated hour (02:00-03:00 on the last Sunday of October) happens
  twice, and fires twice: ``30 2 * * *`` runs at 02:30 summer time and again an hour later
  at 02:30 winter time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# APScheduler 3 ships no type information; the two calls made here are typed by their wrappers.
from apscheduler.triggers.cron import CronTrigger as ApsCron  # type: ignore[import-untyped]
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from synthral.engine.model import CronTrigger, Workflow
from synthral.store.tables import SCHEDULE, new_id, utcnow

__all__ = ["as_utc", "cron_trigger", "due_slots", "next_fire", "sync_schedules"]

_TICK = timedelta(microseconds=1)


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive value is taken as UTC (times given by callers, e.g. a test's clock)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def cron_trigger(expression: str, timezone: str) -> ApsCron:
    """APScheduler 3's cron trigger for a five-field expression in a time zone."""
    return ApsCron.from_crontab(expression, timezone=ZoneInfo(timezone))


def _next(trigger: ApsCron, after: datetime) -> datetime | None:
    # The arithmetic is done in UTC: adding to a local time in the repeated hour would drop
    # its fold and step an hour back, and the walk would never leave that hour.
    slot: datetime | None = trigger.get_next_fire_time(None, as_utc(after) + _TICK)
    return None if slot is None else slot.astimezone(UTC)


def next_fire(expression: str, timezone: str, after: datetime) -> datetime | None:
    """The first slot strictly after ``after``, in UTC; None if the expression never fires again."""
    return _next(cron_trigger(expression, timezone), after)


def due_slots(
    expression: str, timezone: str, first: datetime, now: datetime, limit: int
) -> tuple[list[datetime], datetime | None]:
    """The slots from ``first`` up to ``now``, oldest first, at most ``limit``.

    ``first`` is normally a slot itself (a schedule's ``next_run_at``); any other moment
    counts from the first slot after it.

    Returns:
        The slots, in UTC, and the first slot after them (None if the expression never fires
        again). That next slot is ``<= now`` only when ``limit`` cut the walk short.
    """
    trigger = cron_trigger(expression, timezone)
    slots: list[datetime] = []
    slot = _next(trigger, as_utc(first) - _TICK)
    while slot is not None and slot <= now and len(slots) < limit:
        slots.append(slot)
        slot = _next(trigger, slot)
    return slots, slot


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
        values: dict[str, Any] = {
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
