"""Blob grants on both backends: idempotent grants, and migration 0016 granting each workspace its history."""

from __future__ import annotations

import hashlib
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Connection

from synthral.engine.model import Workflow
from synthral.engine.repository import save_workflow
from synthral.store.blob_tables import BLOB_GRANT, grant_blobs, granted_blobs, revoke_blobs
from synthral.store.db import MIGRATIONS, Database
from synthral.store.desktop_tables import WATCHED_FILE, WATCHED_FOLDER
from synthral.store.ocr_tables import OCR_DOCUMENT, OCR_JOB, OCR_RESULT
from synthral.store.tables import EXECUTION, STEP, WORKSPACE, utcnow

STEPS = 2_500
"""More steps with files than the migration reads in one batch."""


def digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def ref(name: str) -> dict[str, Any]:
    return {"$blob": digest(name), "size": 1, "mediaType": "application/octet-stream"}


async def migrate(database: Database, action: str, revision: str) -> None:
    def go(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)

    async with database.transaction() as connection:
        await connection.run_sync(go)


async def grants(database: Database) -> set[tuple[str, str]]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(select(BLOB_GRANT.c.workspace_id, BLOB_GRANT.c.digest))
        return {(row.workspace_id, row.digest) for row in rows}


async def has_grant_table(database: Database) -> bool:
    async with database.engine.connect() as connection:
        return bool(await connection.run_sync(lambda sync: inspect(sync).has_table("blob_grant")))


async def test_granting_twice_keeps_one_grant_and_revoking_removes_every_workspaces(database: Database) -> None:
    now = utcnow()
    async with database.transaction() as connection:
        await connection.execute(
            insert(WORKSPACE),
            [{"id": w, "slug": w, "name": w, "created_at": now} for w in ("acme", "globex")],
        )
    wanted = [digest(f"f{i}") for i in range(1_200)]  # more than one statement's worth

    def write(connection: Connection) -> None:
        grant_blobs(connection, "acme", wanted)
        grant_blobs(connection, "acme", wanted[:10])
        grant_blobs(connection, "globex", wanted[:1])

    await database.write(write)
    assert len(await grants(database)) == 1_201
    async with database.engine.connect() as connection:
        found = await connection.run_sync(lambda sync: granted_blobs(sync, "globex", {wanted[0], wanted[1]}))
    assert found == {wanted[0]}
    assert await database.write(lambda connection: revoke_blobs(connection, wanted[:1])) == 2
    assert (("globex", wanted[0]) not in await grants(database)) and len(await grants(database)) == 1_199


async def test_the_migration_grants_each_workspace_the_blobs_its_history_names_and_goes_down_again(
    database: Database,
) -> None:
    await migrate(database, "downgrade", "0015")
    assert not await has_grant_table(database)
    now = utcnow()
    saved = Workflow.model_validate(
        {"name": "reads", "nodes": [{"id": "a", "type": "core/set", "input": {"template": ref("in-graph")}}]}
    )
    async with database.transaction() as connection:
        await connection.execute(
            insert(WORKSPACE),
            [{"id": w, "slug": w, "name": w, "created_at": now} for w in ("acme", "globex")],
        )
        workflow = (await save_workflow(connection, saved, {}, workspace_id="acme")).workflow_id
        local = (await save_workflow(connection, saved.model_copy(update={"name": "local"}), {})).workflow_id
        runs = [
            {"id": "run", "workflow_id": workflow, "input": {"file": ref("run-input")}},
            {"id": "local-run", "workflow_id": local, "input": {"file": ref("local-input")}},
        ]
        await connection.execute(
            insert(EXECUTION),
            [{**r, "workflow_version": 1, "status": "completed", "started_at": now} for r in runs],
        )
        step = {"execution_id": "run", "node_type": "core/set", "status": "completed", "started_at": now}
        await connection.execute(
            insert(STEP),
            [
                {**step, "node_id": f"n{i}", "idempotency_key": f"run/n{i}/0", "output": {"made": [ref(f"s{i}")]}}
                for i in range(STEPS)
            ]
            + [{**step, "node_id": "plain", "idempotency_key": "run/plain/0", "output": {"text": "no file"}}]
            + [
                {
                    **step,
                    "execution_id": "local-run",
                    "node_id": "n",
                    "idempotency_key": "local-run/n/0",
                    "output": ref("local-output"),
                }
            ],
        )
        jobs = [
            {"id": "api-job", "workspace_id": "acme", "execution_id": None},
            {"id": "node-job", "workspace_id": None, "execution_id": "run"},
        ]
        await connection.execute(
            insert(OCR_JOB), [{**j, "status": "completed", "document_count": 1, "created_at": now} for j in jobs]
        )
        document = {"position": 0, "size": 1, "media_type": "image/png", "status": "completed"}
        await connection.execute(
            insert(OCR_DOCUMENT),
            [
                {**document, "id": "d1", "job_id": "api-job", "blob": digest("scan")},
                {**document, "id": "d2", "job_id": "node-job", "blob": digest("node-scan")},
            ],
        )
        await connection.execute(
            insert(OCR_RESULT),
            [
                {
                    "id": "r1",
                    "document_id": "d1",
                    "engine": "tesseract",
                    "text": "hi",
                    "result_blob": digest("scan-result"),
                    "result_size": 2,
                    "created_at": now,
                }
            ],
        )
        await connection.execute(
            insert(WATCHED_FOLDER),
            [
                {
                    "id": "f",
                    "workspace_id": "acme",
                    "workflow_id": workflow,
                    "path": "/in",
                    "pattern": "*",
                    "created_at": now,
                }
            ],
        )
        await connection.execute(
            insert(WATCHED_FILE),
            [
                {
                    "folder_id": "f",
                    "name": "a.pdf",
                    "sha256": digest("watched"),
                    "size": 1,
                    "execution_id": "x",
                    "started": False,
                    "seen_at": now,
                }
            ],
        )

    await migrate(database, "upgrade", "head")
    found = await grants(database)
    expected = {digest(name) for name in ("in-graph", "run-input", "scan", "scan-result", "node-scan", "watched")} | {
        digest(f"s{i}") for i in range(STEPS)
    }
    assert found == {("acme", d) for d in expected}  # nothing of the local workflow, nothing for globex

    await migrate(database, "downgrade", "0015")
    assert not await has_grant_table(database)
    await migrate(database, "upgrade", "head")
    assert await grants(database) == found
