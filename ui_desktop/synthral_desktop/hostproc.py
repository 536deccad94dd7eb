"""The desktop's local host: the API, a worker, a scheduler and the folder watcher in one child process.

Run as ``python -m synthral_desktop.hostproc`` by :class:`synthral_desktop.supervisor.HostSupervisor`,
with ``SYNTHRAL_HOME`` set. It serves ``serve --local`` semantics (SQLite under the home,
loopback only, a random port, the per-launch token) and adds the desktop's routes. When it
listens it writes one JSON line on stdout, ``{"port": ..., "token": ..., "pid": ...}``, for
the app alone (the pipe is not readable by other programs). It stops when its standard
input closes, so it never outlives the app that started it, even after a SIGKILL of the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import threading
import uuid

__all__ = ["main", "serve_desktop"]

log = logging.getLogger("synthral_desktop.host")


async def serve_desktop() -> None:
    """Serve until standard input closes or the process is told to stop."""
    import uvicorn

    from synthral.api.app import create_app, open_server
    from synthral.api.routes import desktop
    from synthral.cli.common import settle_heap
    from synthral.engine.scheduler import Scheduler
    from synthral.engine.worker import Worker
    from synthral.security.redact import install_log_redaction
    from synthral.services.watched_folders import FileTriggers

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    async with open_server(local=True, public_url=f"http://127.0.0.1:{port}") as state:
        host_app = state.app
        api = create_app(state, extra=(desktop.router,))
        triggers = FileTriggers(host_app.database, host_app.workflows, host_app.plugins.blobs)
        api.state.file_triggers = triggers
        server = uvicorn.Server(uvicorn.Config(api, log_level="warning", lifespan="off", access_log=False))
        install_log_redaction(*(logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error")))
        stop = asyncio.Event()
        worker = Worker(host_app.engine, concurrency=int(os.environ.get("WORKFLOW_WORKER_CONCURRENCY", "4")))
        scheduler = Scheduler(
            host_app.database,
            scheduler_id=f"desktop:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}",
            on_fire=host_app.engine.notify,
            blobs=host_app.plugins.blobs,
        )
        tasks = [
            asyncio.create_task(worker.run()),
            asyncio.create_task(scheduler.run(stop, 1.0)),
            asyncio.create_task(triggers.run(stop)),
        ]
        loop = asyncio.get_running_loop()
        _watch_stdin(lambda: loop.call_soon_threadsafe(_exit, server))
        settle_heap()
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        while not server.started and not serving.done():  # noqa: ASYNC110 -- uvicorn offers only the flag
            await asyncio.sleep(0.01)
        token = state.launch_token  # made by open_server(local=True); the local guard accepts only it
        sys.stdout.write(json.dumps({"port": port, "token": token, "pid": os.getpid()}) + "\n")
        sys.stdout.flush()
        try:
            await serving
        finally:
            stop.set()
            worker.stop()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def _exit(server: object) -> None:
    server.should_exit = True  # type: ignore[attr-defined]


def _watch_stdin(on_close: object) -> None:
    """Call ``on_close`` when standard input reaches its end: the app is gone."""

    def read() -> None:
        with contextlib.suppress(OSError, ValueError):
            while sys.stdin.buffer.read(4096):
                pass
        on_close()  # type: ignore[operator]

    threading.Thread(target=read, name="desktop-stdin", daemon=True).start()


def main() -> None:
    """Entry point of the child process."""
    from synthral.cli.common import configure_logging

    configure_logging(bool(os.environ.get("SYNTHRAL_DESKTOP_VERBOSE")))
    try:
        import uvloop

        uvloop.run(serve_desktop())
    except ImportError:  # Windows: uvloop does not exist there
        asyncio.run(serve_desktop())


if __name__ == "__main__":
    main()
