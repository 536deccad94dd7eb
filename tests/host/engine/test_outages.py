"""Workers and schedulers outlive database outages, and an outage never fails a run.

PostgreSQL outages are real: a throwaway server is stopped (immediate shutdown) and started
again, or the worker's connection is terminated in the middle of a transaction. SQLite's
are a really full (or read-only) filesystem: a tmpfs with a size limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from synthral.config import EngineSettings
from synthral.engine.model import Workflow
from synthral.engine.runtime import Engine
from synthral.engine.worker import Worker
from synthral.plugins.host import PluginHost
from synthral.services.workflows import ExecutionView, WorkflowService
from synthral.store.db import Database
from synthral.store.tables import EXECUTION, ExecutionStatus, StepStatus
from tests.support.disk import SmallDisk, small_disk
from tests.support.engine import Sink, chain, wait_for_status
from tests.support.postgres import PostgresServer
from tests.support.settings import make_settings

pytestmark = pytest.mark.slow

OUTAGE_LINE = "is unavailable"
BACK_LINE = "answers again"


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, to stop and start."""
    server = PostgresServer.start()
    yield server
    server.stop()


async def migrated(url: str) -> Database:
    database = Database(url)
    await database.migrate()
    return database


def effects(sink: Sink, seconds: float) -> dict[str, Any]:
    return chain(
        "payments",
        {"id": "reserve", "type": "noop/effect", "input": {"url": sink.url, "seconds": 0.05}},
        {"id": "charge", "type": "noop/effect", "input": {"url": sink.url, "seconds": seconds}},
    )


def attempts(view: ExecutionView, node: str) -> list[tuple[int, str]]:
    return [(s["attempt"], s["status"]) for s in view.steps if s["node_id"] == node]


def process(home: Path, wheelhouse: Path, url: str, log: Path, *command: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SYNTHRAL_HOME": str(home),
        "SYNTHRAL_WHEELHOUSE": str(wheelhouse),
        "SYNTHRAL_DATABASE_URL": url,
        "WORKFLOW_LEASE_SECONDS": "3",
    }
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "synthral", *command], env=env, stdout=out, stderr=out)


def stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def test_workers_and_schedulers_keep_running_through_a_postgres_restart_and_say_so_once(
    own_postgres: PostgresServer, noop_home: Path, wheelhouse: Path, tmp_path: Path, sink: Sink
) -> None:
    url = own_postgres.create_database(f"t_{uuid.uuid4().hex[:10]}")
    database = await migrated(url)
    plugins = PluginHost(make_settings(noop_home, wheelhouse))
    service = WorkflowService(database, plugins, Engine(database, plugins))
    saved = await service.save(Workflow.model_validate(effects(sink, 0.05)))
    worker_log, scheduler_log = tmp_path / "worker.log", tmp_path / "scheduler.log"
    worker = process(noop_home, wheelhouse, url, worker_log, "worker", "--concurrency", "4")
    scheduler = process(noop_home, wheelhouse, url, scheduler_log, "scheduler", "--interval", "0.2")
    try:
        before = await service.start(saved.workflow_id)
        assert (await wait_for_status(service, before)).status == ExecutionStatus.COMPLETED

        own_postgres.halt()  # the database is gone: connections refused
        await asyncio.sleep(6)
        assert worker.poll() is None, worker_log.read_text()
        assert scheduler.poll() is None, scheduler_log.read_text()
        own_postgres.resume()

        after = await service.start(saved.workflow_id)  # this process reconnects too
        try:
            assert (await wait_for_status(service, after)).status == ExecutionStatus.COMPLETED
        except AssertionError as exc:
            raise AssertionError(worker_log.read_text()) from exc
        await asyncio.sleep(1.5)  # the scheduler's next tick sees the database again
        assert worker.poll() is None and scheduler.poll() is None
    finally:
        stop(worker)
        stop(scheduler)
        await plugins.close()
        await database.close()
    for log in (worker_log, scheduler_log):
        text_ = log.read_text()
        assert text_.count(OUTAGE_LINE) == 1, text_  # once per outage, not once per poll
        assert text_.count(BACK_LINE) == 1, text_.replace("\n", " | ")
        assert "Traceback" not in text_, text_


@contextlib.asynccontextmanager
async def running(database: Database, plugins: PluginHost, lease: float = 5.0) -> AsyncIterator[WorkflowService]:
    engine = Engine(database, plugins, settings=EngineSettings(lease_seconds=lease))
    worker = Worker(engine, concurrency=4, poll_interval=0.05)
    task = asyncio.create_task(worker.run())
    try:
        yield WorkflowService(database, plugins, engine)
    finally:
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_connection_cut_in_the_middle_of_recording_a_step_does_not_fail_the_run(
    pg_server: PostgresServer, noop_home: Path, wheelhouse: Path, sink: Sink
) -> None:
    database = await migrated(pg_server.create_database(f"t_{uuid.uuid4().hex[:10]}"))
    plugins = PluginHost(make_settings(noop_home, wheelhouse))
    blocker = Database(database.url)
    try:
        # A long lease: no heartbeat falls in the window, so the write cut is the step's own record.
        async with running(database, plugins, lease=60.0) as service:
            saved = await service.save(Workflow.model_validate(effects(sink, 1.0)))
            execution_id = await service.start(saved.workflow_id)
            while not any(s["node_id"] == "charge" for s in (await service.execution(execution_id)).steps):
                await asyncio.sleep(0.02)
            async with blocker.engine.connect() as connection:
                # Hold the run's row: the worker's next write (the step's record, when the call
                # ends) waits inside its transaction; then that connection is cut.
                await connection.execute(select(EXECUTION.c.id).where(EXECUTION.c.id == execution_id).with_for_update())
                await asyncio.sleep(2.0)
                cut = await connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND datname = current_database()"
                    )
                )
                assert cut.all(), "no write of the worker was waiting"
                await connection.rollback()
            view = await wait_for_status(service, execution_id)
    finally:
        await blocker.close()
        await plugins.close()
        await database.close()
    assert view.status == ExecutionStatus.COMPLETED, view.execution
    assert not [s for s in view.steps if s["status"] == StepStatus.FAILED]  # an outage is not the step's error
    assert attempts(view, "charge") == [(1, StepStatus.ABANDONED), (2, StepStatus.COMPLETED)]
    key = f"{execution_id}/charge/0"
    assert [attempt for k, attempt in sink.attempts if k == key] == [1, 2]  # the same key: the remote API dedupes


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with small_disk(tmp_path / "small", "16M") as mounted:
        yield mounted


async def test_a_full_disk_under_sqlite_interrupts_a_run_that_resumes_when_space_is_back(
    disk: SmallDisk, noop_home: Path, wheelhouse: Path, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    database = await migrated(f"sqlite+aiosqlite:///{disk.path / 'synthral.db'}")
    plugins = PluginHost(make_settings(noop_home, wheelhouse))
    try:
        with caplog.at_level(logging.INFO, logger="synthral.engine"):
            async with running(database, plugins) as service:
                saved = await service.save(Workflow.model_validate(effects(sink, 1.5)))
                execution_id = await service.start(saved.workflow_id)
                while not any(s["node_id"] == "charge" for s in (await service.execution(execution_id)).steps):
                    await asyncio.sleep(0.02)
                disk.fill()  # the step's record will not fit when its call ends
                await asyncio.sleep(4.0)
                stuck = await service.execution(execution_id)
                assert stuck.status != ExecutionStatus.FAILED, stuck.execution
                disk.empty()
                view = await wait_for_status(service, execution_id, timeout=60)
    finally:
        await plugins.close()
        await database.close()
    assert view.status == ExecutionStatus.COMPLETED, view.execution
    assert not [s for s in view.steps if s["status"] == StepStatus.FAILED]
    assert attempts(view, "charge")[-1][1] == StepStatus.COMPLETED
    assert {k for k, _ in sink.attempts} == {f"{execution_id}/reserve/0", f"{execution_id}/charge/0"}
    outage_lines = [r.getMessage() for r in caplog.records if OUTAGE_LINE in r.getMessage()]
    assert len(outage_lines) == 1 and "its disk is full" in outage_lines[0], outage_lines
    assert sum(BACK_LINE in r.getMessage() for r in caplog.records) == 1


def test_a_stopped_postgres_is_waited_for_at_start(
    own_postgres: PostgresServer, noop_home: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    url = own_postgres.create_database(f"t_{uuid.uuid4().hex[:10]}")
    own_postgres.halt()
    log = tmp_path / "worker.log"
    worker = process(noop_home, wheelhouse, url, log, "worker")
    try:
        deadline = time.monotonic() + 60
        while OUTAGE_LINE not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)
        assert worker.poll() is None, log.read_text()  # it waits instead of exiting
        own_postgres.resume()
        deadline = time.monotonic() + 60
        while BACK_LINE not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert worker.poll() is None
    finally:
        stop(worker)
    text_ = log.read_text()
    assert text_.count(OUTAGE_LINE) == 1 and text_.count(BACK_LINE) == 1, text_
