"""This process's committed changes, as a signal: what waits for work wakes on a write, not on a clock.

A host that alone writes its database (the desktop's) has no reason to read it again and again
while nothing happens. :class:`~synthral.store.db.Database` calls :meth:`Changes.committed`
after each write transaction of this process that changed rows (a transaction that only read,
or whose statements matched nothing, says nothing), and the loops that would otherwise poll
listen here instead. Writes of other processes are not seen: loops that share a database with
other processes keep polling it (see :mod:`synthral.engine.idle`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

__all__ = ["Changes"]


class Changes:
    """Listeners of this process's committed changes (called on the event loop's thread)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], object]] = []
        self.count = 0
        """How many changing transactions committed since the database was opened."""

    def listen(self, listener: Callable[[], object]) -> Callable[[], None]:
        """Call ``listener`` after every committed change; returns what stops it."""
        self._listeners.append(listener)

        def forget() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return forget

    def event(self) -> tuple[asyncio.Event, Callable[[], None]]:
        """An event set by every committed change (the waiter clears it), and what stops it."""
        flag = asyncio.Event()
        return flag, self.listen(flag.set)

    def committed(self) -> None:
        """A write transaction of this process changed rows and committed: tell every listener."""
        self.count += 1
        for listener in list(self._listeners):
            listener()
