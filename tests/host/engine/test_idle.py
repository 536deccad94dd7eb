"""Loops of a host that alone writes its database sleep until something is due, instead of polling."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, select, update

from synthral.config import EngineSettings
from synthral.engine import state
from synthral.engine.idle import Pacing
from synthral.engine.model import Workflow
from synthral.engine.runtime import Engine
from synthral.engine.scheduler import Scheduler
from synthral.engine.schedules import as_utc
from synthral.engine.worker import Worker
from synthral.plugins.host import PluginHost
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from synthral.store.tables import EXECUTION, WORKFLOW, WORKSPACE, ExecutionStatus, new_id, utcnow
from tests.host.engine.test_scheduler import add_schedule, cron_runs, cron_workflow, schedule_row
from tests.support.engine import chain, wait_for_status
from tests.support.settings import make_settings

STAMP = {"id": "stamp", "type": "core/set", "config": {"values": {"ran": True}}}


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Database]:
    """The desktop's database: SQLite, written by this process alone."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'synthral.db'}")
    await database.migrate()
    yield database
    await database.close()


def count_statements(database: Database) -> Callable[[], int]:
    """Count every statement this process sends from now on; returns the counter's reader."""
    seen = [0]

    def counted(*_: Any) -> None:
        seen[0] += 1

    event.listen(database.engine.sync_engine, "before_cursor_execute", counted)
    if database._writer_engine is not None:
        event.listen(database._writer_engine, "before_cursor_execute", counted)
    return lambda: seen[0]


async def test_a_change_that_fails_is_not_announced(database: Database) -> None:
    heard: list[str] = []
    database.changes.listen(lambda: heard.append("changed"))
    row = {"id": new_id(), "slug": "rolled-back", "name": "Rolled back", "created_at": utcnow()}

    def insert_then_fail(connection: Any) -> None:
        connection.execute(insert(WORKSPACE).values(**row))
        raise RuntimeError("rolled back")

    async def insert_then_fail_async() -> None:
        async with database.transaction() as connection:
            await connection.execute(insert(WORKSPACE).values(**row))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await database.write(insert_then_fail)
    with pytest.raises(RuntimeError):
        await insert_then_fail_async()
    assert heard == []
    await database.write(lambda connection: connection.execute(insert(WORKSPACE).values(**row)))
    assert heard == ["changed"]


def test_pacing_polls_or_sleeps_until_the_next_due_moment() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    polling = Pacing(interval=0.5)
    assert polling.polls and polling.pause(now + timedelta(hours=1), now) == 0.5
    idle = Pacing(interval=0.5, ceiling=30.0)
    assert not idle.polls
    assert idle.pause(None, now) == 30.0  # nothing due: the ceiling
    assert idle.pause(now + timedelta(seconds=7), now) == 7.0
    assert idle.pause(now + timedelta(hours=2), now) == 30.0
    assert idle.pause(now - timedelta(seconds=5), now) == 0.5  # overdue (held elsewhere): the loop's pace
    assert idle.pause(datetime(2026, 1, 1, 12, 0, 3), now) == 3.0  # SQLite's naive UTC


@dataclass
class Idle:
    database: Database
    engine: Engine
    workflows: WorkflowService
    start_worker: Callable[..., Worker]


@pytest.fixture
async def idle(sqlite: Database, noop_home: Path, wheelhouse: Path) -> AsyncIterator[Idle]:
    plugins = PluginHost(make_settings(noop_home, wheelhouse))
    engine = Engine(sqlite, plugins, settings=EngineSettings(lease_seconds=5.0))
    tasks: list[tuple[Worker, asyncio.Task[None]]] = []

    def start_worker(**options: Any) -> Worker:
        worker = Worker(engine, concurrency=4, **options)
        tasks.append((worker, asyncio.create_task(worker.run())))
        return worker

    yield Idle(sqlite, engine, WorkflowService(sqlite, plugins, engine), start_worker)
    for worker, task in tasks:
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await plugins.close()


async def test_changing_writes_are_announced_reads_and_writes_that_match_nothing_are_not(idle: Idle) -> None:
    database = idle.database
    heard: list[int] = []
    forget = database.changes.listen(lambda: heard.append(database.changes.count))
    async with database.transaction() as connection:
        await connection.execute(select(WORKFLOW.c.id))
    await database.write(lambda connection: connection.execute(update(EXECUTION).values(status="x")))  # no rows
    assert heard == []

    saved = await idle.workflows.save(Workflow.model_validate(chain("announced", STAMP)))
    assert len(heard) >= 1
    before = len(heard)
    await database.write(
        lambda connection: connection.execute(
            update(WORKFLOW).where(WORKFLOW.c.id == saved.workflow_id).values(is_active=False)
        )
    )
    assert len(heard) == before + 1
    forget()
    async with database.transaction() as connection:
        await connection.execute(update(WORKFLOW).values(is_active=True))
    assert len(heard) == before + 1  # no longer listening


async def test_an_idle_worker_sends_no_query_until_woken_and_runs_at_once_when_it_is(idle: Idle) -> None:
    saved = await idle.workflows.save(Workflow.model_validate(chain("woken", STAMP)))
    idle.start_worker(poll_interval=0.05, idle_ceiling=600.0)
    await asyncio.sleep(0.3)  # it looked at the empty queue and sleeps
    statements = count_statements(idle.database)
    await asyncio.sleep(1.0)  # a polling worker would have looked twenty times
    assert statements() == 0

    execution_id = await idle.workflows.start(saved.workflow_id, {})  # queued here: notify wakes it
    view = await wait_for_status(idle.workflows, execution_id, timeout=30)
    assert view.status == ExecutionStatus.COMPLETED
    assert view.execution["output"]["stamp"]["data"]["ran"] is True


async def test_an_idle_worker_wakes_for_a_run_due_later_without_being_told(idle: Idle) -> None:
    saved = await idle.workflows.save(Workflow.model_validate(chain("later", STAMP)))
    idle.start_worker(poll_interval=0.05, idle_ceiling=600.0)
    await asyncio.sleep(0.3)
    run = state.NewRun(saved.workflow_id, saved.version, run_at=utcnow() + timedelta(seconds=1.5))
    # Queued without notify (as a retry's backoff is): the change wakes the worker, which reads
    # when the run is due and sleeps until then, not until its ceiling ten minutes away.
    execution_id = await idle.database.write(functools.partial(state.enqueue, run=run))
    view = await wait_for_status(idle.workflows, execution_id, timeout=30)
    assert view.status == ExecutionStatus.COMPLETED
    assert run.run_at is not None and datetime.fromisoformat(view.execution["completed_at"]) >= run.run_at


async def test_what_another_process_queued_is_run_within_the_ceiling(idle: Idle, tmp_path: Path) -> None:
    saved = await idle.workflows.save(Workflow.model_validate(chain("elsewhere", STAMP)))
    idle.start_worker(poll_interval=0.05, idle_ceiling=1.0)
    await asyncio.sleep(0.3)
    other = Database(f"sqlite+aiosqlite:///{tmp_path / 'synthral.db'}")  # a CLI command on the same folder
    try:
        run = state.NewRun(saved.workflow_id, saved.version)
        execution_id = await other.write(functools.partial(state.enqueue, run=run))
    finally:
        await other.close()
    view = await wait_for_status(idle.workflows, execution_id, timeout=30)
    assert view.status == ExecutionStatus.COMPLETED


async def test_an_idle_scheduler_wakes_for_a_schedule_saved_here_and_knows_its_next_slot(sqlite: Database) -> None:
    stop = asyncio.Event()
    fired: list[int] = []
    scheduler = Scheduler(sqlite, scheduler_id="s", on_fire=lambda: fired.append(1))
    assert await scheduler.next_due() is None
    loop = asyncio.create_task(scheduler.run(stop, interval=0.05, idle_ceiling=600.0))
    try:
        await asyncio.sleep(0.3)  # no schedule: it sleeps up to its ceiling
        statements = count_statements(sqlite)
        await asyncio.sleep(0.5)
        assert statements() == 0
        if datetime.now(UTC).second >= 55:  # not at a minute's end: the next slot would be due as well
            await asyncio.sleep(6)
        slot = datetime.now(UTC).replace(second=0, microsecond=0)  # this minute's slot, within the grace
        schedule_id = await add_schedule(sqlite, cron_workflow("now", "* * * * *"), first=slot)  # a change: it wakes
        deadline = asyncio.get_running_loop().time() + 30
        while not fired:
            assert asyncio.get_running_loop().time() < deadline, "the slot did not fire"
            await asyncio.sleep(0.05)
        [run] = await cron_runs(sqlite)
        assert run.input["scheduled_for"] == slot.isoformat()
        # What it sleeps until now: the next slot, which the loop reads after each pass.
        row = await schedule_row(sqlite, schedule_id)
        assert await scheduler.next_due() == as_utc(row.next_run_at) == slot + timedelta(minutes=1)
    finally:
        stop.set()
        await loop
