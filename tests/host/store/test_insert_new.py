"""``Database.insert_new``: only new keys are written, and they read back as a plain insert would write them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from synthral.engine.model import Workflow
from synthral.engine.repository import save_workflow
from synthral.store.db import Database
from synthral.store.tables import EXECUTION, ExecutionStatus, utcnow


def _row(workflow_id: str, execution_id: str, order: object) -> dict[str, object]:
    now = utcnow()
    return {
        "id": execution_id,
        "workflow_id": workflow_id,
        "workflow_version": 1,
        "input": {"body": {"order": order, "note": "naïve ✓"}, "headers": {"content-type": "application/json"}},
        "trigger": "webhook",
        "status": ExecutionStatus.QUEUED,
        "started_at": now,
        "next_run_at": now,
        "fencing_token": 0,
        "pause_requested": False,
        "cancel_requested": False,
        "steps_taken": 0,
        "retry_count": 0,
        "parent_execution_id": None,
        "parent_node_id": None,
        "replay_of": None,
        "execution_state": None,
    }


async def test_only_new_keys_are_written_and_read_back_like_a_plain_insert(database: Database) -> None:
    async with database.transaction() as connection:
        saved = await save_workflow(
            connection, Workflow.model_validate({"name": "w", "nodes": [{"id": "a", "type": "core/set"}]}), {}
        )
    workflow_id = saved.workflow_id
    taken, fresh, plain = (str(uuid.uuid4()) for _ in range(3))
    await database.write(lambda c: c.execute(insert(EXECUTION).values(_row(workflow_id, taken, "old"))))
    await database.write(lambda c: c.execute(insert(EXECUTION).values(_row(workflow_id, plain, 7))))

    def batch(connection: Connection) -> set[object]:
        rows = [_row(workflow_id, taken, "new"), _row(workflow_id, fresh, 7)]
        return database.insert_new(connection, EXECUTION, rows)

    assert await database.write(batch) == {fresh}
    assert await database.write(lambda c: database.insert_new(c, EXECUTION, [])) == set()
    async with database.engine.connect() as connection:
        stored = {
            row.id: row._asdict()
            for row in await connection.execute(select(EXECUTION).where(EXECUTION.c.workflow_id == workflow_id))
        }
    assert stored[taken]["input"]["body"]["order"] == "old"  # the existing row was left alone
    written, reference = stored[fresh], stored[plain]
    assert type(written["started_at"]) is type(reference["started_at"]) is datetime
    for column in ("id", "started_at", "next_run_at"):
        del written[column], reference[column]
    assert written == reference
