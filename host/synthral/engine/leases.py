"""Polling sources that several processes share: leases on their rows, one poll call, the pass loop.

Poll triggers (``trigger_cursor``) and OSINT streams (``osint_stream``) are rows that a
poller claims (``claimed_by`` until ``claimed_until``) before it asks the source for what is
new since the row's stored cursor, then releases in the transaction that stores what came
back. So two pollers never poll one row at once, a dead poller's claim expires, and a poller
that dies between the call and the commit leaves the old cursor for the next one. Each
table keeps ``next_poll_at``, ``interval_seconds`` and ``last_error`` beside the claim.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from sqlalchemy import ColumnElement, Select, Table, case, func, or_, select, update
from sqlalchemy.engine import Connection

from synthral.engine.idle import Pacing, Waiter
from synthral.engine.runtime import Engine
from synthral.errors import SynthralError
from synthral.security.redact import Redactor
from synthral.store.tables import utcnow

__all__ = ["CLAIM_SECONDS", "MAX_EVENTS", "Leases", "PassLoop", "Polled", "poll_source", "run_passes"]

CLAIM_SECONDS: Final = 300.0
"""How long a poller holds a row; a poll that takes longer is abandoned to the next poller."""
MAX_EVENTS: Final = 1_000
"""Events one poll may report; more is an error of the source (it should page with its cursor)."""


class Leases:
    """Claims on the rows of one polled table, held by one poller.

    Args:
        table: Has ``id``, ``claimed_by``, ``claimed_until``, ``next_poll_at``,
            ``interval_seconds`` and ``last_error``.
        owner: This poller's name, recorded in ``claimed_by``.
    """

    def __init__(self, table: Table, owner: str) -> None:
        self.table = table
        self.owner = owner

    def free(self, now: datetime) -> ColumnElement[bool]:
        """Rows no poller holds at ``now`` (never claimed, or the claim expired)."""
        return or_(self.table.c.claimed_until.is_(None), self.table.c.claimed_until < now)

    def next_due(self, *where: ColumnElement[bool]) -> Select[tuple[datetime | None]]:
        """The earliest moment a row (of those ``where`` picks) is due and free: its turn, or its claim's end."""
        table = self.table
        due = case((table.c.claimed_until > table.c.next_poll_at, table.c.claimed_until), else_=table.c.next_poll_at)
        return select(func.min(due)).where(*where)

    def claim(self, connection: Connection, row_id: str) -> Any:
        """Take the row if it is due and free; its row, or None when another poller holds it."""
        now = utcnow()
        taken = connection.execute(
            update(self.table)
            .where(self.table.c.id == row_id, self.table.c.next_poll_at <= now, self.free(now))
            .values(claimed_by=self.owner, claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
        )
        if not taken.rowcount:
            return None
        return connection.execute(select(self.table).where(self.table.c.id == row_id)).one()

    def release(self, connection: Connection, row_id: str) -> bool:
        """Give the row up in the transaction that stores the poll; False when the claim was lost meanwhile."""
        mine = connection.execute(
            update(self.table)
            .where(self.table.c.id == row_id, self.table.c.claimed_by == self.owner)
            .values(claimed_by=None, claimed_until=None)
        )
        return bool(mine.rowcount)

    def fail(self, connection: Connection, row: Any, message: str) -> None:
        """Give the row up with the poll's error; it is polled again after its interval."""
        now = utcnow()
        connection.execute(
            update(self.table)
            .where(self.table.c.id == row.id, self.table.c.claimed_by == self.owner)
            .values(
                claimed_by=None,
                claimed_until=None,
                last_error=message[:2000],
                next_poll_at=now + timedelta(seconds=float(row.interval_seconds)),
            )
        )


@dataclass(frozen=True)
class Polled:
    """What a source answered to one poll.

    Attributes:
        events: The events it reported (objects only, at most :data:`MAX_EVENTS`).
        state: Its new cursor, None when it gave none.
        redactor: Masks the secrets the source was given; apply it to what is stored.
    """

    events: list[dict[str, Any]]
    state: dict[str, Any] | None
    redactor: Redactor


async def poll_source(
    engine: Engine,
    handle: Any,
    *,
    config: Mapping[str, Any],
    state: Any,
    secrets: Sequence[str],
    workspace_id: str | None,
    node_id: str,
    noun: str,
) -> Polled:
    """Ask a poll trigger for what is new since ``state``, with the named workspace secrets.

    Raises:
        SynthralError: The trigger failed (its message, secrets masked), or reported more than
            :data:`MAX_EVENTS` events (``noun`` names it in the message: "trigger", "source").
    """
    given = await engine.secrets(list(secrets), workspace_id) if secrets else {}
    redactor = Redactor()
    redactor.add(*given.values())
    context = engine.plugins.context(secrets=given, node_id=node_id)
    try:
        answer = await handle.call("poll", dict(config), {"state": state}, context)
    except SynthralError as exc:
        raise redactor.error(exc) from None
    reported = answer.get("events")
    events = [event for event in reported if isinstance(event, dict)] if isinstance(reported, list) else []
    if len(events) > MAX_EVENTS:
        raise SynthralError(
            f"the {noun} reported {len(events)} events in one poll, over the limit of {MAX_EVENTS}; it should "
            "report fewer and continue from its cursor at the next poll"
        )
    new_state = answer.get("state")
    return Polled(events, new_state if isinstance(new_state, dict) else None, redactor)


async def run_passes(
    engine: Engine,
    one_pass: Callable[[], Awaitable[bool]],
    stop: asyncio.Event,
    *,
    interval: float,
    log: logging.Logger,
    what: str,
    next_due: Callable[[], Awaitable[datetime | None]] | None = None,
    idle_ceiling: float | None = None,
) -> None:
    """Call ``one_pass`` (True when it wrote) every ``interval`` seconds until ``stop`` is set.

    With ``idle_ceiling`` (a host that alone writes its database), sleep instead until the
    moment ``next_due`` gives, a change of this process, or ``idle_ceiling`` seconds
    (:mod:`synthral.engine.idle`). A database outage is logged once (and its end once) per
    process while the loop backs off; other errors are logged and the loop goes on.
    """
    outage = engine.outage
    waiter = Waiter(Pacing(interval, idle_ceiling), stop, engine.database.changes)
    try:
        while not stop.is_set():
            waiter.begin_pass()
            pause = interval
            try:
                outage.recovered(wrote=await one_pass())
                if not waiter.pacing.polls:
                    pause = waiter.pacing.pause(await next_due() if next_due is not None else None)
            except Exception as exc:  # pollers outlive database outages; the next pass retries
                trouble = engine.database.unavailable(exc)
                if trouble is None:
                    log.exception("%s failed; retrying in %.1f s", what, interval)
                else:
                    pause = max(interval, outage.failed(trouble))
            await waiter.sleep(pause)
    finally:
        waiter.close()


class _Passed(Protocol):
    polled: int


class PassLoop(ABC):
    """A poller over leased rows, run as a loop of passes (the trigger poller, the OSINT streams).

    Subclasses set :attr:`engine` and say what one pass does and when the next row is due.
    """

    engine: Engine
    loop_log: logging.Logger
    """Where the loop's failures are logged."""
    loop_name: str
    """The pass in messages ("trigger poll pass")."""

    @abstractmethod
    async def tick(self) -> _Passed:
        """One pass over the rows that are due."""

    @abstractmethod
    async def next_due(self) -> datetime | None:
        """When the next row is due; None when there is none."""

    async def run(self, stop: asyncio.Event, interval: float = 1.0, *, idle_ceiling: float | None = None) -> None:
        """Pass over the due rows every ``interval`` seconds until ``stop`` is set.

        With ``idle_ceiling``, sleep until the next row is due instead (see :func:`run_passes`).
        A database outage is logged once (and its end once) while the loop backs off; other
        errors are logged and the loop goes on.
        """

        async def one_pass() -> bool:
            return (await self.tick()).polled > 0

        await run_passes(
            self.engine,
            one_pass,
            stop,
            interval=interval,
            log=self.loop_log,
            what=self.loop_name,
            next_due=self.next_due,
            idle_ceiling=idle_ceiling,
        )
