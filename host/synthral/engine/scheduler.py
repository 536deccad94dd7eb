"""The cron scheduler: fires each due slot of each schedule exactly once.

Any number of schedulers may run against one database. A slot fires when its row goes into
``schedule_fire``, whose primary key ``(schedule_id, slot)`` admits it once; the execution
is queued in the same transaction, so a slot is never fired without its run nor twice.
Each schedule is handled in one transaction that first locks its row (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers anyway), so two
schedulers never split one schedule's slots between them and count missed slots once.

Due slots are the slots from the schedule's ``next_run_at`` up to now. A slot later than
``now - misfire_grace`` is on time and always fires. Older slots were missed (no scheduler
was running): the schedule's ``catch_up`` says whether none (``skip``), the latest
(``once``) or every one of them (``all``) fires; those not fired are counted in
``missed_count``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from synthral.engine import state
from synthral.engine.idle import Pacing, Waiter
from synthral.engine.model import CatchUp
from synthral.engine.repository import get_version
from synthral.engine.retention import prune
from synthral.engine.schedules import as_utc, due_slots, next_fire
from synthral.store.db import Database
from synthral.store.outage import Outage
from synthral.store.tables import SCHEDULE, SCHEDULE_FIRE, WORKFLOW, new_id, utcnow
from synthral_sdk.blobs import BlobStore

__all__ = ["MAX_SLOTS_PER_TICK", "Fired", "Scheduler", "TickReport"]


MAX_SLOTS_PER_TICK: Final = 1_000
"""Slots one tick looks at per schedule; a longer backlog continues at the next tick."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fired:
    """One slot this scheduler fired.

    Attributes:
        schedule_id: The schedule.
        slot: The slot, in UTC.
        execution_id: The run it queued.
    """

    schedule_id: str
    slot: datetime
    execution_id: str


@dataclass
class TickReport:
    """What one pass over the due schedules did.

    Attributes:
        fired: The slots fired by this scheduler, oldest first per schedule.
        missed: Missed slots not fired (catch-up ``skip`` or ``once``).
        already_fired: Slots another scheduler had fired first.
        inactive: Due schedules of inactive workflows, moved on without firing.
        backlog: Whether some schedule has more due slots than one tick takes; tick again.
        errors: One message per schedule that could not be handled (it is retried next tick).
    """

    fired: list[Fired] = field(default_factory=list)
    missed: int = 0
    already_fired: int = 0
    inactive: int = 0
    backlog: bool = False
    errors: list[str] = field(default_factory=list)


@dataclass
class _Outcome:
    """What handling one schedule did, added to the tick's report once it has committed."""

    fired: list[Fired] = field(default_factory=list)
    missed: int = 0
    already_fired: int = 0
    inactive: bool = False
    backlog: bool = False

    def add_to(self, report: TickReport) -> None:
        report.fired.extend(self.fired)
        report.missed += self.missed
        report.already_fired += self.already_fired
        report.inactive += int(self.inactive)
        report.backlog = report.backlog or self.backlog


@dataclass(frozen=True)
class _Plan:
    fire: list[datetime]
    missed: int
    next_run_at: datetime | None
    backlog: bool


def plan_slots(row: Any, first: datetime, now: datetime, grace: timedelta, limit: int) -> _Plan:
    """Which due slots of a schedule row fire, from ``first`` up to ``now``, by its catch-up policy."""
    slots, following = due_slots(row.cron_expression, row.timezone, first, now, limit)
    backlog = following is not None and following <= now
    late = [slot for slot in slots if slot <= now - grace]
    on_time = slots[len(late) :]
    policy = CatchUp(row.catch_up)
    if policy is CatchUp.ALL:
        fire = slots
    elif policy is CatchUp.ONCE and late and not backlog:
        # The latest missed slot stands for all of them; while a backlog is walked through
        # in several ticks, the latest is still ahead.
        fire = [late[-1], *on_time]
    else:
        fire = on_time
    return _Plan(fire=fire, missed=len(slots) - len(fire), next_run_at=following, backlog=backlog)


class Scheduler:
    """Fires cron slots into the execution queue.

    Args:
        database: The database holding the schedules and the queue.
        scheduler_id: This scheduler's name, recorded in ``schedule_fire.fired_by``.
        misfire_grace: Seconds a slot may be late and still count as on time.
        on_fire: Called after a transaction that queued runs commits (e.g. ``Engine.notify``).
        prune_every: Seconds between history prunes in :meth:`run` (None: never prune).
        prune_days: The prunes' retention in days (``settings.engine.history_retention_days``).
        blobs: The blob store whose unreferenced blobs the prunes delete (None: keep blobs).
        max_slots: Slots one tick looks at per schedule; a longer backlog continues at once.
        outage: The process's view of the database (shared, so an outage is logged once per
            process); a scheduler of its own when None.
    """

    def __init__(
        self,
        database: Database,
        *,
        scheduler_id: str,
        misfire_grace: float = 60.0,
        on_fire: Callable[[], None] | None = None,
        prune_every: float | None = None,
        prune_days: float = 30.0,
        blobs: BlobStore | None = None,
        max_slots: int = MAX_SLOTS_PER_TICK,
        outage: Outage | None = None,
    ) -> None:
        self.database = database
        self.scheduler_id = scheduler_id
        self.misfire_grace = timedelta(seconds=misfire_grace)
        self.on_fire = on_fire
        self.prune_every = prune_every
        self.prune_days = prune_days
        self.blobs = blobs
        self.max_slots = max_slots
        self.outage = outage or Outage(log, f"scheduler {scheduler_id}")

    async def tick(self, now: datetime | None = None) -> TickReport:
        """Fire every due slot of every schedule whose ``next_run_at`` has come.

        Args:
            now: The moment to fire up to (default: the clock; tests pass their own).

        Returns:
            What was fired, missed and left for the next tick.
        """
        now = as_utc(now or utcnow())
        report = TickReport()
        async with self.database.engine.connect() as connection:
            due = (
                await connection.execute(
                    select(SCHEDULE.c.id)
                    .where(SCHEDULE.c.next_run_at <= now)
                    .order_by(SCHEDULE.c.next_run_at, SCHEDULE.c.id)
                )
            ).all()
        for (schedule_id,) in due:
            try:
                async with self.database.transaction() as connection:
                    outcome = await self._handle(connection, schedule_id, now)
            except Exception as exc:
                if self.database.unavailable(exc) is not None:
                    raise  # the database, not this schedule: the loop waits for it
                message = f"schedule {schedule_id}: {type(exc).__name__}: {exc}"
                log.warning("could not fire %s", message)
                report.errors.append(message)
                continue
            outcome.add_to(report)
            if outcome.fired and self.on_fire is not None:
                self.on_fire()
        return report

    async def _handle(self, connection: AsyncConnection, schedule_id: str, now: datetime) -> _Outcome:
        query = (
            select(SCHEDULE, WORKFLOW.c.is_active.label("workflow_active"))
            .join(WORKFLOW, WORKFLOW.c.id == SCHEDULE.c.workflow_id)
            .where(SCHEDULE.c.id == schedule_id)
        )
        if self.database.is_postgres:
            # Another scheduler holding the row fires its slots; this one moves on.
            query = query.with_for_update(of=SCHEDULE, skip_locked=True)
        row = (await connection.execute(query)).first()
        if row is None or row.next_run_at is None or row.next_run_at > now:
            return _Outcome()  # removed, being handled elsewhere, or handled since the first look
        if not (row.is_active and row.workflow_active):
            # Slots of an inactive workflow are not missed, they are not wanted.
            following = next_fire(row.cron_expression, row.timezone, now)
            await connection.execute(update(SCHEDULE).where(SCHEDULE.c.id == row.id).values(next_run_at=following))
            return _Outcome(inactive=True)
        plan = plan_slots(row, row.next_run_at, now, self.misfire_grace, self.max_slots)
        outcome = _Outcome(missed=plan.missed, backlog=plan.backlog)
        fired = outcome.fired
        if plan.fire:
            version = await get_version(connection, row.workflow_id)
            zone = ZoneInfo(row.timezone)
            for slot in plan.fire:
                execution_id = new_id()
                inserted = await connection.execute(
                    self.database.insert(SCHEDULE_FIRE)
                    .values(
                        schedule_id=row.id,
                        slot=slot,
                        execution_id=execution_id,
                        fired_at=utcnow(),
                        fired_by=self.scheduler_id,
                    )
                    .on_conflict_do_nothing(index_elements=["schedule_id", "slot"])
                )
                if not inserted.rowcount:
                    outcome.already_fired += 1
                    continue
                run = state.NewRun(
                    workflow_id=row.workflow_id,
                    workflow_version=version.version,
                    input={**(row.input or {}), "scheduled_for": slot.astimezone(zone).isoformat()},
                    trigger="cron",
                    execution_id=execution_id,
                )
                await connection.run_sync(state.enqueue, run)
                fired.append(Fired(row.id, slot, execution_id))
        values: dict[str, Any] = {
            "next_run_at": plan.next_run_at,
            "fired_count": SCHEDULE.c.fired_count + len(fired),
            "missed_count": SCHEDULE.c.missed_count + plan.missed,
        }
        if fired:
            values["last_run_at"] = fired[-1].slot
        await connection.execute(update(SCHEDULE).where(SCHEDULE.c.id == row.id).values(**values))
        return outcome

    async def next_due(self) -> datetime | None:
        """The earliest slot of any schedule; None when there is none."""
        async with self.database.engine.connect() as connection:
            due = (await connection.execute(select(func.min(SCHEDULE.c.next_run_at)))).scalar()
        return due if isinstance(due, datetime) else None

    async def run(self, stop: asyncio.Event, interval: float = 1.0, *, idle_ceiling: float | None = None) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set; prune every ``prune_every``.

        With ``idle_ceiling`` (a host that alone writes its database), sleep instead until the
        next slot, a change of this process, or ``idle_ceiling`` seconds (:mod:`synthral.engine.idle`).

        A backlog (a long outage with catch-up ``all``) is worked off without waiting
        between ticks. A database outage is logged once (and its end once) while the loop
        backs off and retries; other errors are logged and the loop goes on. The first prune
        starts with the loop, in the background, so firing never waits for it.
        """
        loop = asyncio.get_running_loop()
        pruning: asyncio.Task[None] | None = None
        last_prune = float("-inf")
        outage = self.outage
        waiter = Waiter(Pacing(interval, idle_ceiling), stop, self.database.changes)
        try:
            while not stop.is_set():
                waiter.begin_pass()
                backlog = False
                pause = interval
                try:
                    report = await self.tick()
                    backlog = report.backlog
                    outage.recovered(wrote=bool(report.fired))
                    if not waiter.pacing.polls:
                        pause = waiter.pacing.pause(await self.next_due())
                except Exception as exc:  # a scheduler outlives database outages
                    trouble = self.database.unavailable(exc)
                    if trouble is None:
                        log.exception("scheduler tick failed; retrying in %.1f s", interval)
                    else:
                        pause = max(interval, outage.failed(trouble))
                prune_due = self.prune_every is not None and loop.time() - last_prune >= self.prune_every
                if prune_due and (pruning is None or pruning.done()):
                    last_prune = loop.time()
                    pruning = asyncio.create_task(self._prune())
                if backlog:
                    await asyncio.sleep(0)
                    continue
                await waiter.sleep(pause)
        finally:
            waiter.close()
            if pruning is not None and not pruning.done():
                pruning.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pruning

    async def _prune(self) -> None:
        try:
            report = await prune(self.database, older_than_days=self.prune_days, blobs=self.blobs)
        except Exception as exc:  # the next prune retries; firing goes on
            trouble = self.database.unavailable(exc)
            if trouble is None:
                log.exception("history prune failed")
            else:
                log.warning("history prune postponed: %s", trouble)
            return
        log.info("history pruned: %s", report.summary())
