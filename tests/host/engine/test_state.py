"""The owner of run state: counts that hold across claims, abandoned attempts, the transitions."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from synthral.config import EngineSettings
from synthral.engine import state
from synthral.engine.model import Workflow
from synthral.engine.runtime import Engine
from synthral.engine.worker import Worker
from synthral.plugins.host import PluginHost
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from synthral.store.tables import EXECUTION, STEP, ExecutionStatus, StepStatus, utcnow
from tests.support.engine import wait_for_status
from tests.support.settings import REPO, make_settings

pytestmark = pytest.mark.slow


def waiting_loop(max_steps: int) -> dict[str, Any]:
    """set -> if -> wait 1.1 s -> if ... : a loop whose condition never turns false."""
    return {
        "name": "waiting-loop",
        "nodes": [
            {"id": "start", "type": "core/set", "config": {"values": {"go": True}}},
            {"id": "check", "type": "core/if", "config": {"conditions": [{"path": "go", "op": "eq", "value": True}]}},
            {"id": "pause", "type": "core/wait", "config": {"seconds": 1.1}},
            {"id": "done", "type": "core/noop"},
        ],
        "edges": [
            {"source": "start", "target": "check"},
            {"source": "check", "target": "pause", "handle": "true"},
            {"source": "pause", "target": "check"},
            {"source": "check", "target": "done", "handle": "false"},
        ],
        "settings": {"max_steps": max_steps},
    }


@contextlib.asynccontextmanager
async def running_worker(database: Database, plugins: PluginHost) -> AsyncIterator[Engine]:
    """A fresh engine (nothing in memory from before) with a worker, stopped on exit: a restart."""
    engine = Engine(database, plugins, settings=EngineSettings(lease_seconds=5.0))
    worker = Worker(engine, concurrency=2, poll_interval=0.05)
    task = asyncio.create_task(worker.run())
    try:
        yield engine
    finally:
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def plugins(tmp_path: Path, wheelhouse: Path) -> AsyncIterator[PluginHost]:
    host = PluginHost(make_settings(tmp_path / "home", wheelhouse))
    yield host
    await host.close()


async def test_max_steps_bounds_a_loop_that_waits_across_claims_and_worker_restarts(
    database: Database, plugins: PluginHost
) -> None:
    service = WorkflowService(database, plugins, Engine(database, plugins))
    saved = await service.save(Workflow.model_validate(waiting_loop(max_steps=4)))
    execution_id = await service.start(saved.workflow_id)
    async with running_worker(database, plugins):
        await wait_for_status(service, execution_id, ExecutionStatus.WAITING)
    # A new worker (a restart): whatever the first one counted in memory is gone.
    async with running_worker(database, plugins):
        view = await wait_for_status(service, execution_id, *ExecutionStatus.TERMINAL, timeout=30)
    assert view.status == ExecutionStatus.FAILED, view.execution
    assert view.execution["error_type"] == "MaxStepsExceeded"
    assert view.execution["error_node"] == "pause"
    assert "its 4 steps" in view.execution["error_message"]
    assert view.execution["steps_taken"] == 4
    assert [(s["node_id"], s["iteration"]) for s in view.steps] == [
        ("start", "0"),
        ("check", "0"),
        ("pause", "0"),
        ("check", "1"),
    ]


async def test_the_step_count_is_recorded_with_each_step_and_read_back_by_the_next_claim(
    database: Database, plugins: PluginHost
) -> None:
    service = WorkflowService(database, plugins, Engine(database, plugins))
    saved = await service.save(Workflow.model_validate(waiting_loop(max_steps=100)))
    execution_id = await service.start(saved.workflow_id)
    async with running_worker(database, plugins):
        await wait_for_status(service, execution_id, ExecutionStatus.WAITING)
        await service.pause(execution_id)
        view = await wait_for_status(service, execution_id, ExecutionStatus.PAUSED, timeout=30)
    recorded = view.execution["steps_taken"]
    assert recorded == len(view.steps) >= 3  # every step begun is counted, and written
    # No worker runs now: the claim below is the next one (a running worker could take it first).
    claim = await state.claim(database, "next-worker", 5.0)
    assert claim is None  # paused: nothing to claim
    await service.resume(execution_id)
    claim = await state.claim(database, "next-worker", 5.0)
    assert claim is not None and claim.steps_taken == recorded


async def test_a_recovered_run_closes_the_attempts_its_last_worker_left_running_as_abandoned(
    database: Database, plugins: PluginHost
) -> None:
    service = WorkflowService(database, plugins, Engine(database, plugins))
    saved = await service.save(Workflow.model_validate({"name": "one", "nodes": [{"id": "a", "type": "core/noop"}]}))
    execution_id = await service.start(saved.workflow_id)
    first = await state.claim(database, "worker-1", 0.01)
    assert first is not None and first.abandoned == 0
    identity = {
        "execution_id": execution_id,
        "node_id": "a",
        "node_type": "core/noop",
        "iteration": "0",
        "attempt": 1,
        "idempotency_key": f"{execution_id}/a/0",
        "input": {},
        "started_at": utcnow(),
        "worker": "worker-1",
        "fencing_token": first.fencing_token,
    }
    await database.write(lambda connection: state.begin_attempt(connection, identity))
    await asyncio.sleep(0.05)  # worker-1's lease runs out: it died
    second = await state.claim(database, "worker-2", 5.0)
    assert second is not None and second.execution_id == execution_id and second.abandoned == 1
    async with database.engine.connect() as connection:
        step = (await connection.execute(select(STEP).where(STEP.c.execution_id == execution_id))).one()
        owner = (await connection.execute(select(EXECUTION.c.lease_owner))).scalar_one()
    assert (step.status, step.worker, step.error_type) == (StepStatus.ABANDONED, "worker-1", "WorkerLost")
    assert step.finished_at is not None and owner == "worker-2"


async def test_a_lost_lease_writes_nothing_and_no_count(database: Database, plugins: PluginHost) -> None:
    service = WorkflowService(database, plugins, Engine(database, plugins))
    saved = await service.save(Workflow.model_validate({"name": "one", "nodes": [{"id": "a", "type": "core/noop"}]}))
    await service.start(saved.workflow_id)
    first = await state.claim(database, "worker-1", 0.01)
    assert first is not None
    await asyncio.sleep(0.05)
    second = await state.claim(database, "worker-2", 5.0)
    assert second is not None

    def late(connection: Any) -> state.LeaseFlags | None:
        return state.hold_lease(
            connection,
            execution_id=first.execution_id,
            fencing_token=first.fencing_token,
            worker="worker-1",
            expires=utcnow(),
            steps_taken=99,
            retry_count=99,
        )

    assert await database.write(late) is None
    async with database.engine.connect() as connection:
        row = (await connection.execute(select(EXECUTION.c.steps_taken, EXECUTION.c.lease_owner))).one()
    assert tuple(row) == (0, "worker-2")


RUN_STATE_TABLES = (
    "EXECUTION",
    "STEP",
    "SIGNAL",
    "EXECUTION_LOG",
    "CHECKPOINT",
    "CHECKPOINT_BLOB",
    "CHECKPOINT_WRITE",
    "STEP_EVENT",
)
_WRITE = re.compile(
    r"\b(?:insert|update|delete|merge|insert_new)\(\s*(?:[a-z_]+,\s*)?(" + "|".join(RUN_STATE_TABLES) + r")\b"
)


def test_no_module_but_the_state_owner_writes_run_state() -> None:
    host = REPO / "host" / "synthral"
    writers = {
        str(path.relative_to(host)): sorted(set(_WRITE.findall(path.read_text())))
        for path in host.rglob("*.py")
        if path.name != "state.py" or path.parent.name != "engine"
    }
    assert {path: tables for path, tables in writers.items() if tables} == {}
    assert _WRITE.search("connection.execute(insert(STEP_EVENT), rows)")  # the pattern finds a write
