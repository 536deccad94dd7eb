"""uvicorn's server, woken when there is something to do.

uvicorn's main loop wakes ten times a second to look at its exit flag (and once a second
refreshes the ``Date`` header). This one wakes once a second for the header and at once when
:meth:`QuietServer.request_exit` is called: an idle host stays asleep.
"""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn

__all__ = ["QuietServer"]

TICK_SECONDS = 1.0
"""How often the ``Date`` header (and uvicorn's own exit flag, set by its signal handlers) is looked at."""


class QuietServer(uvicorn.Server):
    """A :class:`uvicorn.Server` whose idle loop ticks once a second instead of ten times."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit = asyncio.Event()

    def request_exit(self) -> None:
        """Stop serving now (uvicorn's ``should_exit``, without waiting for the next tick)."""
        self.should_exit = True
        self._exit.set()

    async def main_loop(self) -> None:
        """Refresh the headers every second; return when asked to exit."""
        # on_tick(0) does the once-a-second work (the Date header) and reads the exit flags.
        while not await self.on_tick(0):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), TICK_SECONDS)
