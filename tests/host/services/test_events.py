"""One event loop per process: a hundred subscribers cost the queries of one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from synthral.config import EngineSettings
from synthral.engine.model import Workflow
from synthral.engine.runtime import Engine
from synthral.engine.worker import Worker
from synthral.plugins.host import PluginHost
from synthral.services.events import EventHub, Subscription
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from tests.support.engine import chain, wait_for_status
from tests.support.settings import make_settings

pytestmark = pytest.mark.slow


@pytest.fixture
async def service(database: Database, noop_home: Path, wheelhouse: Path) -> AsyncIterator[WorkflowService]:
    plugins = PluginHost(make_settings(noop_home, wheelhouse))
    engine = Engine(database, plugins, settings=EngineSettings(lease_seconds=5.0))
    worker = Worker(engine, concurrency=4, poll_interval=0.05)
    task = asyncio.create_task(worker.run())
    yield WorkflowService(database, plugins, engine)
    worker.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await plugins.close()


async def drain(subscription: Subscription, until: str, execution_id: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(30):
        while not any(e["event"] == until and e["execution_id"] == execution_id for e in seen):
            seen += await subscription.next(0.5)
    return seen


async def test_many_subscribers_share_one_loop_and_see_only_their_workspace(
    service: WorkflowService, database: Database
) -> None:
    hub = EventHub(database, interval=0.05, idle_interval=0.05)
    statements: list[str] = []
    database_engine = database.engine.sync_engine
    listener = lambda *args: statements.append(str(args[2]))  # noqa: E731 -- a counting hook
    event.listen(database_engine, "before_cursor_execute", listener)
    try:
        acme = [await hub.subscribe("acme") for _ in range(60)]
        globex = [await hub.subscribe("globex") for _ in range(40)]
        assert hub.subscribers == 100
        statements.clear()
        passes = hub.passes
        await asyncio.sleep(1.0)
        made = hub.passes - passes
        assert made >= 5
        reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "FROM" in s.upper()]
        # One set of queries a pass, whatever the number of subscribers (the pass under way when
        # counting began is counted in queries, not in passes: one more).
        assert len(reads) <= 3 * (made + 1)

        workflow = chain("watched", {"id": "one", "type": "core/set"}, {"id": "two", "type": "noop/echo"})
        saved = await service.save(Workflow.model_validate(workflow), workspace_id="acme")
        execution_id = await service.start(saved.workflow_id, workspace_id="acme")
        await wait_for_status(service, execution_id)
        seen = await drain(acme[0], "execution.completed", execution_id)
        kinds = [e["event"] for e in seen if e["execution_id"] == execution_id]
        assert kinds.count("step.finished") == 2 and kinds[-1] == "execution.completed"
        last = await drain(acme[-1], "execution.completed", execution_id)
        assert [e["event"] for e in last] == [e["event"] for e in seen]  # every subscriber gets the same
        assert [await g.next(0.01) for g in globex] == [[]] * len(globex)  # nothing of another workspace

        watcher = await hub.subscribe("acme", execution_id="someone-else")
        other = await service.start(saved.workflow_id, workspace_id="acme")
        await wait_for_status(service, other)
        await drain(acme[1], "execution.completed", other)
        assert await watcher.next(0.2) == []  # an execution's subscriber sees only it
    finally:
        event.remove(database_engine, "before_cursor_execute", listener)
        await hub.close()
    for subscription in acme + globex:
        hub.unsubscribe(subscription)
    assert hub.subscribers == 0


async def test_a_run_that_starts_and_ends_between_two_passes_is_still_reported_as_ended(
    service: WorkflowService, database: Database
) -> None:
    hub = EventHub(database, interval=3600, idle_interval=3600)  # one pass at subscription, then only ones made here
    try:
        watcher = await hub.subscribe("acme")
        await asyncio.sleep(0.2)  # the loop's first pass, before the run exists
        saved = await service.save(Workflow.model_validate(chain("quick", {"id": "one", "type": "core/set"})),
                                   workspace_id="acme")  # fmt: skip
        execution_id = await service.start(saved.workflow_id, workspace_id="acme")
        await wait_for_status(service, execution_id)  # queued, run and ended with no pass in between
        await hub.poll_once()
        events = [e for e in await watcher.next(1.0) if e["execution_id"] == execution_id]
        assert [e["event"] for e in events] == ["step.started", "step.finished", "execution.completed"]
        await hub.poll_once()
        assert await watcher.next(0.1) == []  # reported once
    finally:
        await hub.close()


async def test_a_run_started_in_this_process_wakes_the_idle_loop_which_then_follows_it_until_it_ends(
    service: WorkflowService, database: Database
) -> None:
    hub = EventHub(database, interval=0.05, idle_interval=3600)  # idle: no pass unless woken
    service.engine.listeners.append(hub.wake)
    try:
        watcher = await hub.subscribe("acme")
        async with asyncio.timeout(30):
            while hub.passes < 1:  # the first pass finds nothing running: the loop idles
                await asyncio.sleep(0.01)
        workflow = chain("woken", {"id": "one", "type": "core/set"}, {"id": "two", "type": "noop/echo"})
        saved = await service.save(Workflow.model_validate(workflow), workspace_id="acme")
        execution_id = await service.start(saved.workflow_id, workspace_id="acme")  # notify() wakes the hub
        seen = await drain(watcher, "execution.completed", execution_id)
        kinds = [e["event"] for e in seen if e["execution_id"] == execution_id]
        assert kinds.count("step.finished") == 2 and kinds[-1] == "execution.completed"
        await asyncio.sleep(0.3)
        idle = hub.passes
        await asyncio.sleep(0.5)
        assert hub.passes == idle  # the run ended: back to the idle interval
    finally:
        service.engine.listeners.remove(hub.wake)
        await hub.close()


async def test_history_a_run_of_this_process_commits_is_read_soon_and_at_most_once_a_gap(
    service: WorkflowService, database: Database
) -> None:
    """No tick and no start wake-up: only the run's commits bring passes, spaced by the gap."""
    hub = EventHub(database, interval=3600, idle_interval=3600, soon_gap=0.05)
    service.engine.record_listeners.append(hub.soon)
    try:
        watcher = await hub.subscribe("acme")
        async with asyncio.timeout(30):
            while hub.passes < 1:
                await asyncio.sleep(0.01)
        before = hub.passes
        nodes = [{"id": f"s{i}", "type": "core/noop"} for i in range(40)]
        saved = await service.save(Workflow.model_validate(chain("soon", *nodes)), workspace_id="acme")
        loop = asyncio.get_running_loop()
        started = loop.time()
        execution_id = await service.start(saved.workflow_id, workspace_id="acme")
        seen = await drain(watcher, "execution.completed", execution_id)
        took = loop.time() - started
        kinds = [e["event"] for e in seen if e["execution_id"] == execution_id]
        assert kinds.count("step.finished") == 40 and kinds[-1] == "execution.completed"
        assert 1 <= hub.passes - before <= took / 0.05 + 2  # one pass per gap at most, however many commits
    finally:
        service.engine.record_listeners.remove(hub.soon)
        await hub.close()
