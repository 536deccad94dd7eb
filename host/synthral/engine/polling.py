"""Polling triggers: ask a plugin's trigger for new events, start one run per event, keep the cursor.

A workflow's ``poll`` trigger names a trigger capability (``rss/feed``), its config and an
interval; saving the workflow keeps one ``trigger_cursor`` row per poll trigger
(:func:`sync_triggers`). A poller (:class:`TriggerPoller`, run beside the scheduler) polls
each due cursor: it claims the row for a while, calls the trigger's ``poll`` with the
stored state, and commits in one transaction the runs of the new events together with the
state the trigger returned. So:

- **Nothing is lost**: the state moves on only with the runs of the events before it; a
  poller that dies after the call leaves the old state, and the next poll asks again.
- **Nothing is repeated**: a run's id is derived from the workflow, the trigger and the
  event's ``id`` (or its content), so an event reported twice starts one run.
- **Restarts resume**: the state is in the database, whichever process polls next.
- **Pollers share the work**: a claim (``claimed_by`` until ``claimed_until``) keeps two
  pollers from polling one cursor at once; a claim that outlives its poller expires.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from synthral.engine import state
from synthral.engine.leases import Leases, PassLoop, poll_source
from synthral.engine.model import PollTrigger, Workflow
from synthral.engine.repository import get_version
from synthral.engine.runtime import Engine
from synthral.errors import SynthralError
from synthral.store.tables import TRIGGER_CURSOR, WORKFLOW, new_id, utcnow

__all__ = ["PollReport", "TriggerPoller", "event_key", "sync_triggers"]

log = logging.getLogger("synthral.engine.polling")


def definition_digest(trigger: PollTrigger) -> str:
    """A hash of the trigger's definition: changing it starts the cursor afresh."""
    data = {"trigger": trigger.trigger, "config": trigger.config}
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def event_key(event: Mapping[str, Any]) -> str:
    """What tells an event from the others: its ``id``, else a hash of its content."""
    identity = event.get("id")
    if isinstance(identity, str | int) and not isinstance(identity, bool):
        return f"id:{identity}"
    return "sha256:" + hashlib.sha256(orjson.dumps(dict(event), option=orjson.OPT_SORT_KEYS)).hexdigest()


async def sync_triggers(connection: AsyncConnection, workflow_id: str, workflow: Workflow) -> None:
    """Create, update or remove the workflow's cursors to match its poll triggers.

    A trigger whose definition (capability and config) is unchanged keeps its state; a
    changed one starts from no state. A new or changed trigger is polled at once.
    """
    existing = {
        row.trigger_index: row
        for row in await connection.execute(select(TRIGGER_CURSOR).where(TRIGGER_CURSOR.c.workflow_id == workflow_id))
    }
    wanted = {index: trigger for index, trigger in enumerate(workflow.triggers) if isinstance(trigger, PollTrigger)}
    gone = [row.id for index, row in existing.items() if index not in wanted]
    if gone:
        await connection.execute(delete(TRIGGER_CURSOR).where(TRIGGER_CURSOR.c.id.in_(gone)))
    now = utcnow()
    for index, trigger in wanted.items():
        digest = definition_digest(trigger)
        row = existing.get(index)
        if row is None:
            await connection.execute(
                insert(TRIGGER_CURSOR).values(
                    id=new_id(),
                    workflow_id=workflow_id,
                    trigger_index=index,
                    capability=trigger.trigger,
                    definition_digest=digest,
                    state=None,
                    interval_seconds=trigger.interval,
                    next_poll_at=now,
                    polls=0,
                    events=0,
                )
            )
        elif row.definition_digest != digest:
            await connection.execute(
                update(TRIGGER_CURSOR)
                .where(TRIGGER_CURSOR.c.id == row.id)
                .values(
                    capability=trigger.trigger,
                    definition_digest=digest,
                    state=None,
                    interval_seconds=trigger.interval,
                    next_poll_at=now,
                    last_error=None,
                )
            )
        elif row.interval_seconds != trigger.interval:
            await connection.execute(
                update(TRIGGER_CURSOR).where(TRIGGER_CURSOR.c.id == row.id).values(interval_seconds=trigger.interval)
            )


@dataclass
class PollReport:
    """What one pass over the due cursors did.

    Attributes:
        polled: Cursors polled successfully.
        started: Runs queued for new events.
        repeated: Events reported again, whose runs existed already.
        errors: One message per cursor whose poll failed (it is polled again after its interval).
    """

    polled: int = 0
    started: int = 0
    repeated: int = 0
    errors: list[str] = field(default_factory=list)


class TriggerPoller(PassLoop):
    """Polls the due poll triggers of every workflow and starts a run per new event.

    Args:
        engine: Its database, plugin host and secret resolver are used.
        poller_id: This poller's name, recorded in ``claimed_by``.
        on_start: Called after a poll queued runs (e.g. ``Engine.notify``).
        concurrency: Polls in flight at once.
    """

    loop_log = log
    loop_name = "trigger poll pass"

    def __init__(
        self,
        engine: Engine,
        *,
        poller_id: str,
        on_start: Callable[[], None] | None = None,
        concurrency: int = 8,
    ) -> None:
        self.engine = engine
        self.database = engine.database
        self.poller_id = poller_id
        self.on_start = on_start
        self.gate = asyncio.Semaphore(concurrency)
        self.leases = Leases(TRIGGER_CURSOR, poller_id)

    async def tick(self, now: datetime | None = None) -> PollReport:
        """Poll every cursor that is due and not held by another poller."""
        now = now or utcnow()
        async with self.database.engine.connect() as connection:
            due = (
                await connection.execute(
                    select(TRIGGER_CURSOR.c.id)
                    .join(WORKFLOW, WORKFLOW.c.id == TRIGGER_CURSOR.c.workflow_id)
                    .where(TRIGGER_CURSOR.c.next_poll_at <= now, self.leases.free(now), WORKFLOW.c.is_active.is_(True))
                    .order_by(TRIGGER_CURSOR.c.next_poll_at)
                )
            ).scalars()
            ids = list(due)
        report = PollReport()
        await asyncio.gather(*(self._poll(cursor_id, report) for cursor_id in ids))
        return report

    async def _poll(self, cursor_id: str, report: PollReport) -> None:
        async with self.gate:
            cursor = await self.database.write(lambda connection: self.leases.claim(connection, cursor_id))
            if cursor is None:
                return  # another poller took it first
            try:
                started, repeated = await self._poll_claimed(cursor)
            except (SynthralError, OSError) as exc:
                message = exc.message if isinstance(exc, SynthralError) else str(exc)
                report.errors.append(f"trigger {cursor.capability} of workflow {cursor.workflow_id}: {message}")
                log.warning("poll of %s (workflow %s) failed: %s", cursor.capability, cursor.workflow_id, message)
                await self.database.write(lambda connection: self.leases.fail(connection, cursor, message))
                return
            report.polled += 1
            report.started += started
            report.repeated += repeated
            if started and self.on_start is not None:
                self.on_start()

    async def _poll_claimed(self, cursor: Any) -> tuple[int, int]:
        async with self.database.engine.connect() as connection:
            saved = await get_version(connection, cursor.workflow_id)
        trigger = saved.workflow.triggers[cursor.trigger_index]
        if not isinstance(trigger, PollTrigger):
            raise SynthralError(f"trigger {cursor.trigger_index} of the workflow is no longer a poll trigger")
        plugin = trigger.trigger.partition("/")[0]
        polled = await poll_source(
            self.engine,
            self.engine.plugins.resolve(trigger.trigger, version=saved.plugin_versions.get(plugin)),
            config=trigger.config,
            state=cursor.state,
            secrets=trigger.secrets,
            workspace_id=saved.workspace_id,
            node_id=f"trigger:{cursor.trigger_index}",
            noun="trigger",
        )
        runs = [
            state.NewRun(
                workflow_id=saved.workflow_id,
                workflow_version=saved.version,
                input=polled.redactor.value(event),
                trigger="poll",
                execution_id=str(
                    uuid.uuid5(
                        uuid.NAMESPACE_URL,
                        f"synthral:poll:{saved.workflow_id}:{cursor.trigger_index}:{event_key(event)}",
                    )
                ),
            )
            for event in polled.events
        ]

        def commit(connection: Connection) -> list[bool]:
            if not self.leases.release(connection, cursor.id):
                return []  # the claim expired and another poller took over: it polls again
            created = state.enqueue_new(self.database, connection, runs)
            now = utcnow()
            connection.execute(
                update(TRIGGER_CURSOR)
                .where(TRIGGER_CURSOR.c.id == cursor.id)
                .values(
                    state=polled.state,
                    last_polled_at=now,
                    next_poll_at=now + timedelta(seconds=trigger.interval),
                    last_error=None,
                    polls=TRIGGER_CURSOR.c.polls + 1,
                    events=TRIGGER_CURSOR.c.events + sum(created),
                )
            )
            return created

        created = await self.database.write(commit)
        return sum(created), len(created) - sum(created)

    async def next_due(self) -> datetime | None:
        """When the next trigger of an active workflow is due (None: there is none)."""
        query = self.leases.next_due(WORKFLOW.c.is_active.is_(True)).join_from(
            TRIGGER_CURSOR, WORKFLOW, WORKFLOW.c.id == TRIGGER_CURSOR.c.workflow_id
        )
        async with self.database.engine.connect() as connection:
            due = (await connection.execute(query)).scalar()
        return due if isinstance(due, datetime) else None
