"""The desktop's local host: the API, a worker, a scheduler and the folder watcher in one child process.

Run as ``python -m synthral_desktop.hostproc`` by :class:`synthral_desktop.supervisor.HostSupervisor`,
with ``SYNTHRAL_HOME`` set. It runs a :class:`~synthral.runtime.HostRuntime` in desktop mode:
``serve --local`` semantics (SQLite under the home, loopback only, a random port, the
per-launch token) with the desktop's routes and the watched folders. As soon as the API
listens (the worker and the scheduler start after) it writes one JSON line on stdout,
``{"port": ..., "token": ..., "pid": ...}``, for the app alone (the pipe is not readable by
other programs). It stops when its standard input closes, so it never outlives the app that
started it, even after a SIGKILL of the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

__all__ = ["main", "serve_desktop"]

log = logging.getLogger("synthral_desktop.host")


async def serve_desktop() -> None:
    """Serve until standard input closes or the process is told to stop."""
    from synthral.config import Settings
    from synthral.process import settle_heap
    from synthral.runtime import HostRuntime

    # Loopback and a free port whatever the environment says: only this app may reach its host.
    settings = Settings.load().replace(server={"host": "127.0.0.1", "port": 0, "public_url": None})
    runtime = HostRuntime(settings, api=True, worker=True, scheduler=True, desktop=True)

    def listening() -> None:
        # Said as soon as the API listens: the window loads the builder while the worker and
        # the scheduler start.
        assert runtime.server is not None
        assert runtime.url is not None
        port = int(runtime.url.rsplit(":", 1)[1])
        token = runtime.server.launch_token  # made for local mode; the local guard accepts only it
        sys.stdout.write(json.dumps({"port": port, "token": token, "pid": os.getpid()}) + "\n")
        sys.stdout.flush()

    runtime.on_listening = listening
    # Told to stop while still starting (right after saying it listens), it stops once started.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # Windows: no signal handlers on the loop
            loop.add_signal_handler(sig, stop.set)
    async with runtime:
        _watch_stdin(lambda: loop.call_soon_threadsafe(stop.set))
        settle_heap()
        await runtime.run_until_stopped(stop)


def _watch_stdin(on_close: Callable[[], object]) -> None:
    """Call ``on_close`` when standard input reaches its end: the app is gone."""

    def read() -> None:
        # The descriptor, not sys.stdin: a thread blocked in the buffered reader holds its lock,
        # and a process told to stop (SIGTERM) would abort at exit, unable to take it.
        with contextlib.suppress(OSError):
            while os.read(0, 4096):
                pass
        on_close()

    threading.Thread(target=read, name="desktop-stdin", daemon=True).start()


def main() -> None:
    """Entry point of the child process."""
    from synthral.process import configure_logging

    configure_logging(bool(os.environ.get("SYNTHRAL_DESKTOP_VERBOSE")))
    try:
        import uvloop

        uvloop.run(serve_desktop())
    except ImportError:  # Windows: uvloop does not exist there
        asyncio.run(serve_desktop())


if __name__ == "__main__":
    main()
