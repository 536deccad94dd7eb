"""One SynthralOS process: the host's services, and the worker, scheduler and API it runs.

``synthral serve``, ``run``, ``worker`` and ``scheduler``, the demo and the desktop app all
start a :class:`HostRuntime` with the parts they need instead of assembling them by hand::

    async with HostRuntime(Settings.load(), worker=True) as runtime:
        saved = await runtime.app.workflows.save(workflow)
        execution_id = await runtime.app.workflows.start(saved.workflow_id, {"url": "…"})
        view = await runtime.wait_for(execution_id)

It opens the database (migrating it), the plugin host and the services once, starts the
parts in that order and stops them in the reverse one; it knows when this process's
worker ends a run, so waiting for an execution needs no polling loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import uuid
from collections.abc import Callable, Collection
from contextlib import AsyncExitStack
from datetime import datetime
from typing import TYPE_CHECKING, Self

from synthral.config import Settings
from synthral.engine.idle import IDLE_CEILING
from synthral.errors import ConfigurationError
from synthral.security.urls import is_loopback
from synthral.services.app import App, open_app
from synthral.store.db import database_file, database_location, database_url
from synthral.store.outage import Outage, unavailable
from synthral.store.tables import ExecutionStatus, utcnow

if TYPE_CHECKING:
    from fastapi import APIRouter

    from synthral.api.serving import QuietServer
    from synthral.api.state import ServerState
    from synthral.engine.polling import TriggerPoller
    from synthral.engine.scheduler import Scheduler
    from synthral.engine.worker import Worker
    from synthral.security.passwords import Passwords
    from synthral.services.osint.streams import OsintStreams
    from synthral.services.watched_folders import FileTriggers
    from synthral.services.workflows import ExecutionView

__all__ = ["PARKED", "HostRuntime"]

log = logging.getLogger("synthral.runtime")

PARKED = frozenset({ExecutionStatus.WAITING, ExecutionStatus.PAUSED})
"""States a run rests in until someone acts (a signal, a resume): ``wait_for`` returns on them."""
_RECHECK_SECONDS = 1.0
"""How often a wait looks at the database when no worker of this process reported progress."""


class HostRuntime:
    """The host's services and, as asked, a worker, a scheduler and the HTTP API, in one process.

    Args:
        settings: The process's settings, loaded once.
        worker: Claim and run executions here.
        scheduler: Fire cron schedules, poll polling triggers and OSINT streams, send OSINT
            digests (and prune history every ``prune_every`` seconds) here.
        api: Serve the HTTP API on ``settings.server.host``/``port`` (port 0: a free one).
        local: Desktop mode for the API: no sign-in, loopback only.
        desktop: The desktop app's host (implies ``local``): the API also mounts the desktop's
            routes, and watched folders start their workflows (with ``api``). It alone writes
            its database, so its loops sleep until something is due instead of polling
            (``idle_ceiling``).
        observe: Write the structured log to the home's log file and trace as
            ``settings.observability`` asks (a process started from the command line).
        concurrency: Runs the worker runs at once (``settings.engine.worker_concurrency``).
        poll_interval: Seconds between the worker's looks at the queue when nothing woke it.
        scheduler_interval: Seconds between the scheduler's looks at the schedules.
        misfire_grace: Seconds a cron slot may be late and still count as on time.
        prune_every: Seconds between history prunes by the scheduler; None never prunes.
        idle_ceiling: None to poll (the worker every ``poll_interval``, the scheduler and the
            pollers every ``scheduler_interval``); else the longest they sleep when nothing is
            due and this process changed nothing (:mod:`synthral.engine.idle`). A desktop host
            defaults to :data:`~synthral.engine.idle.IDLE_CEILING`.
        passwords: The API's password hashing cost (the default when None).
        wait_for_database: At start, wait (backing off, logged once) for a database that is
            unavailable instead of failing: long-running processes started during an outage
            come up when it ends.

    Attributes:
        app: The host's services (database, plugins, engine, workflows, credentials).
        server: The API's services when ``api`` is on, else None.
        file_triggers: The watched folders and dropped files of a desktop host, else None.
        url: The API's base URL (``http://HOST:PORT``) once started with ``api``.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        worker: bool = False,
        scheduler: bool = False,
        api: bool = False,
        local: bool = False,
        desktop: bool = False,
        observe: bool = False,
        concurrency: int | None = None,
        poll_interval: float = 0.5,
        scheduler_interval: float = 1.0,
        misfire_grace: float = 60.0,
        prune_every: float | None = None,
        idle_ceiling: float | None = None,
        passwords: Passwords | None = None,
        wait_for_database: bool = False,
    ) -> None:
        local = local or desktop
        if local and api and not is_loopback(settings.server.host):
            raise ConfigurationError(
                f"local mode serves without sign-in, so it listens on loopback only, not {settings.server.host}; "
                "listen on 127.0.0.1 (SYNTHRAL_HOST) or leave local mode"
            )
        self.settings = settings
        self.want_worker = worker
        self.want_scheduler = scheduler
        self.want_api = api
        self.local = local
        self.desktop = desktop
        self.observe = observe
        self.concurrency = concurrency or settings.engine.worker_concurrency
        self.poll_interval = poll_interval
        self.scheduler_interval = scheduler_interval
        self.misfire_grace = misfire_grace
        self.prune_every = prune_every
        self.idle_ceiling = idle_ceiling if idle_ceiling is not None or not desktop else IDLE_CEILING
        self.passwords = passwords
        self.wait_for_database = wait_for_database
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.worker: Worker | None = None
        self.scheduler: Scheduler | None = None
        self.poller: TriggerPoller | None = None
        self.osint: OsintStreams | None = None
        self.file_triggers: FileTriggers | None = None
        self.on_listening: Callable[[], object] | None = None
        """Called once the API listens, before the worker and the scheduler start (the desktop says its port)."""
        self.server: ServerState | None = None
        self.url: str | None = None
        self._app: App | None = None
        self._stack = AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._stop_scheduler = asyncio.Event()
        self._progress = asyncio.Event()
        self._uvicorn: QuietServer | None = None

    @property
    def app(self) -> App:
        """The host's services (available once started)."""
        if self._app is None:
            raise RuntimeError("the runtime is not started; use 'async with HostRuntime(...)' or await start()")
        return self._app

    async def start(self) -> None:
        """Open the services, then start the worker, the scheduler and the API that were asked for."""
        try:
            if self.observe:
                self._observe()
            self._app = await self._open()
            if self.want_api:
                await self._start_api()
                if self.on_listening is not None:
                    self.on_listening()
            if self.want_worker or self.want_scheduler:
                # Their modules (LangGraph's runtime among them: a few tenths of a second) load
                # in a thread, so a client that was just told the API listens is answered meanwhile.
                await asyncio.to_thread(_import_parts)
            if self.want_worker:
                self._start_worker()
            if self.want_scheduler:
                self._start_scheduler()
        except BaseException:
            await self.stop()
            raise

    def _observe(self) -> None:
        from synthral.observability import configure_tracing, install_json_logs, shutdown_tracing  # noqa: PLC0415
        from synthral.observability.tracing import TraceSettings  # noqa: PLC0415

        observability = self.settings.observability
        trace = TraceSettings.from_settings(observability)  # a protocol it cannot speak stops the start
        install_json_logs(self.settings.home, stderr_json=observability.log_format == "json")
        if configure_tracing(trace):
            self._stack.callback(shutdown_tracing)  # the last thing closed: the batch is flushed after the parts stop

    async def _open(self) -> App:
        outage = Outage(log, f"{self.name} starting")
        while True:
            try:
                app = await self._stack.enter_async_context(open_app(self.settings, local=self.local))
            except Exception as exc:
                url = database_url(self.settings)
                trouble = unavailable(exc, database_location(url), path=database_file(url))
                if trouble is None:
                    raise
                if not self.wait_for_database:
                    raise trouble from exc
                await asyncio.sleep(outage.failed(trouble))
                continue
            outage.recovered()  # migrating wrote
            return app

    # The parts are imported when they start: a process imports only what it runs (the graph
    # compiler and LangGraph's runtime take seconds to import on a small machine).

    def _start_worker(self) -> None:
        from synthral.engine.worker import Worker  # noqa: PLC0415

        self.worker = Worker(
            self.app.engine,
            concurrency=self.concurrency,
            poll_interval=self.poll_interval,
            idle_ceiling=self.idle_ceiling,
            on_run_end=self._ended,
        )
        self._tasks.append(asyncio.create_task(self.worker.run(), name="synthral-worker"))

    def _start_scheduler(self) -> None:
        from synthral.engine.polling import TriggerPoller  # noqa: PLC0415
        from synthral.engine.scheduler import Scheduler  # noqa: PLC0415

        self.scheduler = Scheduler(
            self.app.database,
            scheduler_id=self.name,
            misfire_grace=self.misfire_grace,
            on_fire=self.app.engine.notify,
            prune_every=self.prune_every,
            prune_days=self.settings.engine.history_retention_days,
            blobs=self.app.plugins.blobs,
            outage=self.app.engine.outage,
        )
        ceiling = self.idle_ceiling
        task = self.scheduler.run(self._stop_scheduler, self.scheduler_interval, idle_ceiling=ceiling)
        self._tasks.append(asyncio.create_task(task, name="synthral-scheduler"))
        self.poller = TriggerPoller(self.app.engine, poller_id=self.name, on_start=self.app.engine.notify)
        polling = self.poller.run(self._stop_scheduler, self.scheduler_interval, idle_ceiling=ceiling)
        self._tasks.append(asyncio.create_task(polling, name="synthral-trigger-poller"))
        from synthral.services.osint.streams import OsintStreams  # noqa: PLC0415

        self.osint = OsintStreams(self.app.engine, owner_id=self.name, on_start=self.app.engine.notify)
        streams = self.osint.run(self._stop_scheduler, self.scheduler_interval, idle_ceiling=ceiling)
        self._tasks.append(asyncio.create_task(streams, name="synthral-osint-streams"))

    async def _start_api(self) -> None:
        # The API's stack (FastAPI, uvicorn) is imported only by processes that serve it.
        import uvicorn  # noqa: PLC0415

        from synthral.api.app import assemble, close_server, create_app  # noqa: PLC0415
        from synthral.api.serving import QuietServer  # noqa: PLC0415
        from synthral.security.redact import install_log_redaction  # noqa: PLC0415

        host = self.settings.server.host
        listener = _listen(host, self.settings.server.port)
        self._stack.callback(listener.close)
        port = listener.getsockname()[1]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        # Port 0 is a free one: the URL people and providers are sent to is the one bound.
        public_url = self.settings.server.public_url or self.url
        server = self.server = assemble(
            self.app, local=self.local, public_url=public_url, passwords=self.passwords, idle_ceiling=self.idle_ceiling
        )
        self._stack.push_async_callback(close_server, server)
        extra: tuple[APIRouter, ...] = ()
        if self.desktop:
            from synthral.api.routes import desktop  # noqa: PLC0415
            from synthral.services.watched_folders import FileTriggers  # noqa: PLC0415

            extra = (desktop.router,)
            app = self.app
            self.file_triggers = FileTriggers(app.database, app.workflows, app.plugins.blobs, outage=app.engine.outage)
            watching = self.file_triggers.run(self._stop_scheduler)
            self._tasks.append(asyncio.create_task(watching, name="synthral-watched-folders"))
        api = create_app(server, extra=extra)
        api.state.file_triggers = self.file_triggers
        config = uvicorn.Config(api, log_level="warning", lifespan="off", access_log=False)
        self._uvicorn = QuietServer(config)
        install_log_redaction(*(logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error")))
        task = asyncio.create_task(self._uvicorn.serve(sockets=[listener]), name="synthral-api")
        self._tasks.append(task)
        while not self._uvicorn.started:
            if task.done():
                task.result()  # it could not serve: say why
                raise ConfigurationError(
                    f"the API did not start on {host}:{port}; choose another address or port (SYNTHRAL_HOST, "
                    "SYNTHRAL_PORT)"
                )
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop the API, the scheduler and the worker (runs in progress are left for the next worker), then close."""
        if self._uvicorn is not None:
            self._uvicorn.request_exit()
        self._stop_scheduler.set()
        if self.worker is not None:
            self.worker.stop()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._stack.aclose()
        self._app = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def run_until_stopped(self, stop: asyncio.Event | None = None) -> None:
        """Serve until ``stop`` is set, or until SIGTERM or SIGINT when none is given (then stop)."""
        if stop is None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
        waiting = asyncio.create_task(stop.wait())
        try:
            # A part that ends on its own (the API could not go on) ends the process too.
            await asyncio.wait([waiting, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            for task in self._tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]  # checked just above

    def _ended(self, execution_id: str, status: str) -> None:
        del execution_id, status
        self._progress.set()

    async def wait_for(
        self,
        execution_id: str,
        *,
        until: Collection[str] = ExecutionStatus.TERMINAL,
        parked: bool = True,
        timeout: float | None = None,
    ) -> ExecutionView:
        """Wait until the execution reaches one of ``until`` (by default any end) and return it.

        With ``parked`` it also returns when the run rests until someone acts: waiting for a
        signal, a person or a child run, or paused, with no worker holding it (a timer is no
        reason to return: it fires by itself).

        Raises:
            TimeoutError: ``timeout`` seconds passed first.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            self._progress.clear()
            view = await self.app.workflows.execution(execution_id)
            if view.status in until or (parked and _parked(view)):
                return view
            pause = _RECHECK_SECONDS if deadline is None else min(_RECHECK_SECONDS, deadline - loop.time())
            if pause <= 0:
                raise TimeoutError(f"execution {execution_id} is still {view.status} after {timeout:g} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), pause)


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` (0: a free port), for the API to serve on.

    Raises:
        ConfigurationError: The address cannot be bound (in use, not this machine's).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise ConfigurationError(
            f"the API cannot listen on {host}:{port} ({exc.strerror}); choose another address or port "
            "(SYNTHRAL_HOST, SYNTHRAL_PORT)",
            details={"host": host, "port": port},
        ) from None
    return listener


def _parked(view: ExecutionView) -> bool:
    """Whether nobody holds the run and nothing but a person or a signal will move it on."""
    execution = view.execution
    runnable_at = execution.get("next_run_at")
    due = runnable_at is not None and datetime.fromisoformat(str(runnable_at)) <= utcnow()
    return (
        view.status in PARKED
        and execution.get("lease_owner") is None
        and execution.get("waiting_kind") != "timer"
        and not due  # a signal arrived: a worker will take it up
    )


def _import_parts() -> None:
    """Load the modules of the worker and the scheduler's loops (run in a thread, off the event loop)."""
    import synthral.engine.polling  # noqa: PLC0415
    import synthral.engine.scheduler  # noqa: PLC0415
    import synthral.engine.worker  # noqa: PLC0415
    import synthral.services.osint.streams  # noqa: F401, PLC0415
