"""A run's writes are group-committed: what queues while one transaction commits goes in the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Connection

from synthral.engine import state
from synthral.engine.guard import RunGuard
from synthral.engine.model import Workflow
from synthral.engine.runtime import Engine
from synthral.plugins.host import PluginHost
from synthral.services.workflows import WorkflowService
from synthral.store.db import Database
from tests.support.engine import chain
from tests.support.settings import make_settings


async def test_writes_queued_behind_a_commit_go_together_in_the_next_transaction_each_with_its_result(
    database: Database, noop_home: Path, wheelhouse: Path
) -> None:
    plugins = PluginHost(make_settings(noop_home, wheelhouse))
    try:
        service = WorkflowService(database, plugins, Engine(database, plugins))
        saved = await service.save(Workflow.model_validate(chain("grouped", {"id": "a", "type": "core/noop"})))
        await service.start(saved.workflow_id)
        claim = await state.claim(database, "worker-1", 5.0)
        assert claim is not None
        guard = RunGuard(claim.execution_id, claim.fencing_token, "worker-1", 5.0)
        commits: list[int] = []
        guard.on_commit = lambda: commits.append(len(commits))

        def answer(value: int) -> Callable[[Connection], int]:
            return lambda connection: value

        async with guard.lock:  # as while one of the run's transactions commits
            queued = [asyncio.create_task(guard.run(database, answer(n))) for n in range(5)]
            await asyncio.sleep(0.05)
            assert len(guard.pending) == 5 and commits == []

        assert [await task for task in queued] == [0, 1, 2, 3, 4]
        assert commits == [0]  # the five went in one transaction, not five
        assert guard.pending == []
    finally:
        await plugins.close()
