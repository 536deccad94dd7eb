"""How the host's loops wait between passes: poll the database, or sleep until something is due.

A server's worker, scheduler and pollers share the database with other processes, so they look
at it again every ``interval``: another process may have queued a run or saved a schedule.

A host that alone writes its database (the desktop's, ``ceiling`` set) does not. Each loop
sleeps until the next moment it knows to be due (a schedule's slot, a retry's time, a poll's
turn), or until this process commits a change (:class:`synthral.store.changes.Changes`: a
workflow saved, a run queued), or until it is woken (``at_once``). It still looks every
``ceiling`` seconds, for what another program wrote to the same folder (a CLI command). Woken
by changes, a loop keeps ``interval`` between its passes, so a busy host wakes it no more
often than polling did; an idle one not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from synthral.store.changes import Changes
from synthral.store.tables import utcnow

__all__ = ["IDLE_CEILING", "Pacing", "Waiter"]

IDLE_CEILING: Final = 30.0
"""Seconds a loop of a host that alone writes its database sleeps at most (the desktop's)."""


@dataclass(frozen=True)
class Pacing:
    """A loop's rhythm.

    Args:
        interval: Seconds between passes while polling, and at least between two passes
            brought by changes.
        ceiling: None to poll every ``interval``; else the longest sleep when nothing is due.
    """

    interval: float
    ceiling: float | None = None

    @property
    def polls(self) -> bool:
        """Whether the loop looks every ``interval`` whatever is due."""
        return self.ceiling is None

    def pause(self, due: datetime | None, now: datetime | None = None) -> float:
        """Seconds to sleep after a pass, when the next known due moment is ``due`` (None: nothing is)."""
        if self.ceiling is None:
            return self.interval
        if due is None:
            return self.ceiling
        if due.tzinfo is None:  # SQLite hands back naive UTC
            due = due.replace(tzinfo=UTC)
        wait = (due - (now or utcnow())).total_seconds()
        return min(self.ceiling, max(self.interval, wait))


class Waiter:
    """One loop's sleep between passes.

    Args:
        pacing: The loop's rhythm.
        at_once: Ends a sleep at once (the loop's stop, or the worker's wake-up).
        changes: This process's committed changes; they end a sleep when the loop does not poll.
    """

    def __init__(self, pacing: Pacing, at_once: asyncio.Event, changes: Changes | None = None) -> None:
        self.pacing = pacing
        self.at_once = at_once
        self._changed: asyncio.Event | None = None
        self._forget: Callable[[], None] | None = None
        if not pacing.polls and changes is not None:
            self._changed, self._forget = changes.event()
        self._started = 0.0

    def begin_pass(self) -> None:
        """Call before each pass: what changes from now on brings the next one."""
        self._started = asyncio.get_running_loop().time()
        if self._changed is not None:
            self._changed.clear()

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, less if woken."""
        if self._changed is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.at_once.wait(), seconds)
            return
        woken = asyncio.ensure_future(self.at_once.wait())
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait((woken, changed), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in (woken, changed):
                waiting.cancel()
        if self.at_once.is_set() or not self._changed.is_set():
            return  # woken, or the time came
        rest = self._started + self.pacing.interval - asyncio.get_running_loop().time()
        if rest > 0:  # a change, soon after the last pass: keep the loop's pace
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.at_once.wait(), rest)

    def close(self) -> None:
        """Stop listening for changes."""
        if self._forget is not None:
            self._forget()
            self._forget = None
